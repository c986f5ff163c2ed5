//go:build tools

// Package tools pins the Kubernetes control-plane binaries that `motherboard dev-cluster` builds.
// There is no code here: the blank imports make `go mod tidy` keep the main packages' dependencies.
package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kube-scheduler"
	_ "k8s.io/kubernetes/cmd/kubectl"
)
