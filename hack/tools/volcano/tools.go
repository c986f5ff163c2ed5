//go:build tools

// Package tools pins the binaries that `motherboard dev-cluster up --peers volcano` builds into its cache (see
// src/motherboard/devcluster/build.py and peers.py). The blank imports keep their dependencies in
// go.mod/go.sum; the CRDs are read from the module's config/crd folder in the module cache.
package tools

import (
	_ "volcano.sh/volcano/cmd/controller-manager"
	_ "volcano.sh/volcano/cmd/scheduler"
	_ "volcano.sh/volcano/cmd/webhook-manager"
)
