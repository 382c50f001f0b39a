//go:build cgo

// The cgo part of the parked fixture (built when cgo is on: -race, external linking): one
// goroutine blocked inside a C call, one parked in Go code that C called back into (its stack
// crosses runtime.cgocallback back into the Go frames that made the C call), and one blocked in
// a C call made from inside such a callback (Go → C → Go → C).
package main

/*
#include <unistd.h>
extern void goCallback(void);
extern void goNested(void);
static void call_back(void) { goCallback(); }
static void call_nested(void) { goNested(); }
static void block_in_c(void) { for (;;) pause(); }
*/
import "C"

var callbackChan = make(chan int)

//export goCallback
func goCallback() { <-callbackChan }

//export goNested
func goNested() { C.block_in_c() }

//go:noinline
func callIntoC() { C.call_back() }

//go:noinline
func nestedCallback() { C.call_nested() }

//go:noinline
func blockInC() { C.block_in_c() }

func init() {
	go callIntoC()
	go blockInC()
	go nestedCallback()
}
