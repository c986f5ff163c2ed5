//go:build tools

// Package tools pins the Kubernetes binaries that `motherboard dev-cluster` builds: the control plane and,
// for real nodes, the kubelet and kube-proxy.
// There is no code here: the blank imports make `go mod tidy` keep the main packages' dependencies.
package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kube-scheduler"
	_ "k8s.io/kubernetes/cmd/kube-proxy"
	_ "k8s.io/kubernetes/cmd/kubectl"
	_ "k8s.io/kubernetes/cmd/kubelet"
)
