//go:build tools

// Package tools pins a binary that `motherboard dev-cluster up --peers kueue` builds into its cache (see
// src/motherboard/devcluster/build.py and peers.py). The blank import keeps its dependencies in go.mod/go.sum;
// the CRDs and webhook configuration are read from the module's config/ folder in the module cache.
package tools

import (
	_ "sigs.k8s.io/kueue/cmd/kueue"
)
