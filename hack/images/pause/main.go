// Command pause is the sandbox ("infra") container of every pod on the dev cluster's real nodes.
//
// It holds the pod's namespaces open, does nothing else, exits on SIGINT/SIGTERM and reaps the zombies of
// processes re-parented to it (it is PID 1 of the pod when the pod shares its PID namespace). It is built
// here and imported into containerd as registry.k8s.io/pause:3.10, so no registry is ever contacted.
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	signals := make(chan os.Signal, 8)
	signal.Notify(signals, syscall.SIGINT, syscall.SIGTERM, syscall.SIGCHLD)
	for sig := range signals {
		if sig != syscall.SIGCHLD {
			os.Exit(0)
		}
		for {
			var status syscall.WaitStatus
			if pid, err := syscall.Wait4(-1, &status, syscall.WNOHANG, nil); pid <= 0 || err != nil {
				break
			}
		}
	}
}
