// Fixture for goruntime's oracle test: parks goroutines in common states, writes
// runtime.Stack(buf, true) to os.Args[1], then stops itself with SIGSTOP (and the test stops it too) so the test can read
// its memory through /proc/PID/mem and compare. Standard library only.
package main

import (
	"context"
	"os"
	"runtime"
	"runtime/pprof"
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

//go:noinline
func blockingRead() {
	var fds [2]int
	if err := syscall.Pipe(fds[:]); err != nil {
		panic(err)
	}
	buf := make([]byte, 1)
	syscall.Read(fds[0], buf) // a blocking fd: the goroutine stays in _Gsyscall
}

//go:noinline
func labeled(c chan int) {
	pprof.Do(context.Background(), pprof.Labels("worker", "7", "role", "fixture"), func(context.Context) {
		<-c
	})
}

func main() {
	out := os.Args[1]
	c := make(chan int)
	mu.Lock()
	rw.Lock()
	wg.Add(1)
	go chanRecv(make(chan int))
	go chanSend(make(chan int))
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
	go blockingRead()
	go labeled(make(chan int))
	time.Sleep(300 * time.Millisecond)
	buf := make([]byte, 8<<20)
	n := runtime.Stack(buf, true)
	if err := os.WriteFile(out+".tmp", buf[:n], 0o644); err != nil {
		panic(err)
	}
	if err := os.Rename(out+".tmp", out); err != nil {
		panic(err)
	}
	// The test stops us with SIGSTOP now (a self-sent SIGSTOP was seen to be resumed when the
	// fixture is not a foreground job); park until then.
	syscall.Kill(syscall.Getpid(), syscall.SIGSTOP)
	time.Sleep(time.Hour)
}
