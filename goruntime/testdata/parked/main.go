// Fixture for goruntime's oracle test: parks goroutines in common states, writes
// runtime.Stack(buf, true) to os.Args[1], then stops itself with SIGSTOP so the test can read
// its memory through /proc/PID/mem and compare. Standard library only.
package main

import (
	"os"
	"runtime"
	"sync"
	"syscall"
	"time"
)

var (
	mu   sync.Mutex
	rw   sync.RWMutex
	wg   sync.WaitGroup
	cond = sync.NewCond(&sync.Mutex{})
	spin uint64
)

//go:noinline
func chanRecv(c chan int) { <-c }

//go:noinline
func chanSend(c chan int) { c <- 1 }

//go:noinline
func selecter(a, b chan int) {
	select {
	case <-a:
	case <-b:
	}
}

//go:noinline
func sleeper() { time.Sleep(time.Hour) }

//go:noinline
func locker() { mu.Lock() }

//go:noinline
func rlocker() { rw.RLock() }

//go:noinline
func waiter() { wg.Wait() }

//go:noinline
func condWaiter() {
	cond.L.Lock()
	cond.Wait()
}

//go:noinline
func recurse(n int, c chan int) int {
	if n == 0 {
		<-c
		return 0
	}
	return recurse(n-1, c) + 1
}

//go:noinline
func blockForever() { select {} }

//go:noinline
func nilChan() {
	var c chan int
	<-c
}

//go:noinline
func busy() {
	for {
		spin++
	}
}

type T struct{ c chan int }

//go:noinline
func (t *T) method() { <-t.c }

//go:noinline
func generic[X any](c chan X) { <-c }

func inlined(c chan int) { <-c } // small: inlined into outer

//go:noinline
func outer(c chan int) {
	inlined(c)
	spin++
}

//go:noinline
func locked(c chan int) {
	runtime.LockOSThread()
	<-c
}

//go:noinline
func closure(c chan int) {
	go func() {
		<-c
	}()
}

func main() {
	out := os.Args[1]
	c := make(chan int)
	mu.Lock()
	rw.Lock()
	wg.Add(1)
	go chanRecv(c)
	go chanSend(c)
	go selecter(c, c)
	go sleeper()
	go locker()
	go rlocker()
	go waiter()
	go condWaiter()
	go recurse(10, c)
	go recurse(130, c)
	go blockForever()
	go nilChan()
	go busy()
	t := &T{c: c}
	go t.method()
	go generic(make(chan string))
	go outer(c)
	go locked(c)
	closure(c)
	time.Sleep(300 * time.Millisecond)
	buf := make([]byte, 8<<20)
	n := runtime.Stack(buf, true)
	if err := os.WriteFile(out, buf[:n], 0o644); err != nil {
		panic(err)
	}
	syscall.Kill(syscall.Getpid(), syscall.SIGSTOP)
	os.Exit(0)
}
