// Fixture for goruntime's signal-frame oracle: busy goroutines (more than GOMAXPROCS, so sysmon
// preempts them with SIGURG) under a CPU profile at 2 kHz (SIGPROF), so that a stop often
// catches a thread inside a signal handler. Writes os.Args[1] once all are running, then spins
// until killed. Standard library only.
package main

import (
	"io"
	"os"
	"runtime"
	"runtime/pprof"
)

var sink [64]uint64

//go:noinline
func spin(i int) {
	for {
		sink[i*8]++
	}
}

//go:noinline
func busy(i int) { spin(i) }

func main() {
	// Set before StartCPUProfile, whose own 100 Hz request is then refused (with a warning).
	runtime.SetCPUProfileRate(2000)
	if err := pprof.StartCPUProfile(io.Discard); err != nil {
		panic(err)
	}
	n := runtime.GOMAXPROCS(0) + 2
	if n > 8 {
		n = 8
	}
	for i := 0; i < n; i++ {
		go busy(i)
	}
	if err := os.WriteFile(os.Args[1], []byte("running\n"), 0o644); err != nil {
		panic(err)
	}
	select {}
}
