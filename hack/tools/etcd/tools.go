//go:build tools

// Package tools pins a binary that `motherboard dev-cluster` builds into its cache (see
// src/motherboard/devcluster/build.py). The blank import keeps its dependencies in go.mod/go.sum.
package tools

import (
	_ "go.etcd.io/etcd/server/v3"
)
