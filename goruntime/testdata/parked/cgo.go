//go:build cgo

// The cgo part of the parked fixture (built when cgo is on: -race, external linking): one
// goroutine blocked inside a C call, and one parked in Go code that C called back into, so its
// stack crosses runtime.cgocallback back into the Go frames that made the C call.
package main

/*
#include <unistd.h>
extern void goCallback(void);
static void call_back(void) { goCallback(); }
static void block_in_c(void) { for (;;) pause(); }
*/
import "C"

var callbackChan = make(chan int)

//export goCallback
func goCallback() { <-callbackChan }

//go:noinline
func callIntoC() { C.call_back() }

//go:noinline
func blockInC() { C.block_in_c() }

func init() {
	go callIntoC()
	go blockInC()
}
