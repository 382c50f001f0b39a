//go:build cgo

// The cgo part of the parked fixture (built when cgo is on: -race, external linking): one
// goroutine blocked inside a C call, one parked in Go code that C called back into (its stack
// crosses runtime.cgocallback back into the Go frames that made the C call), and one blocked in
// a C call made from inside such a callback (Go → C → Go → C), and one on a thread C created,
// parked in the Go function that thread called (an extra M: its stack ends at cgocallback).
package main

/*
#cgo LDFLAGS: -lpthread
#include <pthread.h>
#include <unistd.h>
extern void goCallback(void);
extern void goNested(void);
extern void goFromCThread(void);
static void *c_thread(void *arg) { goFromCThread(); return arg; }
static void start_c_thread(void) { pthread_t t; pthread_create(&t, 0, c_thread, 0); }
static void call_back(void) { goCallback(); }
static void call_nested(void) { goNested(); }
static void block_in_c(void) { for (;;) pause(); }
*/
import "C"

var callbackChan = make(chan int)

//export goCallback
func goCallback() { <-callbackChan }

//export goFromCThread
func goFromCThread() { <-callbackChan }

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
	C.start_c_thread()
}
