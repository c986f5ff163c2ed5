// run_vm: load a TVM Relax artifact with the TVM runtime only and run its "main" on float32 inputs.
//
// Built for the target's architecture (aarch64 here, cross-compiled with g++-aarch64-linux-gnu) so an
// artifact for an edge node can be executed under qemu-aarch64 on an x86-64 machine, with the runtime
// libraries from the aarch64 TVM wheels. Usage:
//   run_vm ARTIFACT.so OUTPUT.bin INPUT.bin:d0,d1,... [INPUT2.bin:...]
// OUTPUT.bin holds, per output: int64 ndim, int64 dims[ndim], then the float32 data.
#include <tvm/ffi/container/array.h>
#include <tvm/ffi/container/tensor.h>
#include <tvm/ffi/extra/module.h>
#include <tvm/ffi/function.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

namespace ffi = tvm::ffi;

struct AlignedAlloc {
  void AllocData(DLTensor* tensor) {
    size_t size = ffi::GetDataSize(*tensor);
    tensor->data = std::aligned_alloc(64, (size + 63) / 64 * 64);
  }
  void FreeData(DLTensor* tensor) { std::free(tensor->data); }
};

static ffi::Tensor ReadInput(const std::string& spec) {
  size_t colon = spec.rfind(':');
  std::string path = spec.substr(0, colon);
  std::vector<int64_t> shape;
  std::stringstream dims(spec.substr(colon + 1));
  for (std::string dim; std::getline(dims, dim, ',');) shape.push_back(std::stoll(dim));
  ffi::Tensor tensor = ffi::Tensor::FromNDAlloc(AlignedAlloc(), ffi::Shape(shape), DLDataType{kDLFloat, 32, 1},
                                                DLDevice{kDLCPU, 0});
  const DLTensor* dl = tensor.GetDLTensorPtr();
  std::ifstream in(path, std::ios::binary);
  in.read(static_cast<char*>(dl->data), static_cast<std::streamsize>(ffi::GetDataSize(*dl)));
  if (!in) throw std::runtime_error("cannot read " + path);
  return tensor;
}

static void WriteTensor(std::ofstream& out, const ffi::Tensor& tensor) {
  const DLTensor* dl = tensor.GetDLTensorPtr();
  int64_t ndim = dl->ndim;
  out.write(reinterpret_cast<const char*>(&ndim), sizeof ndim);
  out.write(reinterpret_cast<const char*>(dl->shape), static_cast<std::streamsize>(sizeof(int64_t) * ndim));
  out.write(static_cast<const char*>(dl->data), static_cast<std::streamsize>(ffi::GetDataSize(*dl)));
}

int main(int argc, char** argv) {
  if (argc < 4) {
    std::cerr << "usage: run_vm ARTIFACT.so OUTPUT.bin INPUT.bin:d0,d1,..." << std::endl;
    return 2;
  }
  try {
    ffi::Module lib = ffi::Module::LoadFromFile(argv[1]);
    ffi::Module vm = lib->GetFunction("vm_load_executable").value()().cast<ffi::Module>();
    // device type kDLCPU, device id 0, pooled allocator (2): what tvm.runtime.vm.VirtualMachine passes.
    vm->GetFunction("vm_initialization").value()(static_cast<int>(kDLCPU), 0, 2);
    ffi::Function main_fn = vm->GetFunction("main").value();
    std::vector<ffi::AnyView> args;
    std::vector<ffi::Tensor> inputs;
    for (int i = 3; i < argc; ++i) inputs.push_back(ReadInput(argv[i]));
    for (const auto& t : inputs) args.emplace_back(t);
    ffi::Any result;
    main_fn.CallPacked(args.data(), static_cast<int32_t>(args.size()), &result);
    std::ofstream out(argv[2], std::ios::binary);
    if (auto tensor = result.as<ffi::Tensor>()) {
      WriteTensor(out, *tensor);
    } else {
      for (const ffi::Any& item : result.cast<ffi::Array<ffi::Any>>()) WriteTensor(out, item.cast<ffi::Tensor>());
    }
  } catch (const std::exception& exc) {
    std::cerr << "run_vm: " << exc.what() << std::endl;
    return 1;
  }
  return 0;
}
