package netfault

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// The processes the tests run inside the nodes are this test binary,
// re-executed (through Net.Command) with helperEnv naming what to do; see
// TestMain. os.Args[1:] are then the helper's own arguments.
const helperEnv = "SLUICE_NETFAULT_TEST_HELPER"

func TestMain(m *testing.M) {
	switch os.Getenv(helperEnv) {
	case "echo":
		echoMain(os.Args[1])
	case "hang":
		hangMain()
	case "":
		goleak.VerifyTestMain(m)
	default:
		// "leak": TestHelperLeakedRun, run by TestStaleRunRemoved.
		os.Exit(m.Run())
	}
}

// echoMain listens on addr and prints "listening HOST:PORT". On every
// connection it echoes each line back, then prints "echoed REMOTE LINE",
// so the test sees what reached the node's application. It exits when
// its standard input closes.
func echoMain(addr string) {
	ln, err := net.Listen("tcp4", addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "echo:", err)
		os.Exit(2)
	}
	var mu sync.Mutex
	say := func(format string, args ...any) {
		mu.Lock()
		defer mu.Unlock()
		fmt.Printf(format+"\n", args...)
	}
	say("listening %s", ln.Addr())
	go func() {
		_, _ = io.Copy(io.Discard, os.Stdin)
		os.Exit(0)
	}()
	for {
		c, err := ln.Accept()
		if err != nil {
			fmt.Fprintln(os.Stderr, "echo:", err)
			os.Exit(2)
		}
		go func() {
			defer c.Close()
			sc := bufio.NewScanner(c)
			for sc.Scan() {
				if _, err := c.Write(append(sc.Bytes(), '\n')); err != nil {
					return
				}
				say("echoed %s %s", c.RemoteAddr(), sc.Text())
			}
		}()
	}
}

// hangMain prints its pid and waits, for the tests of what the harness
// kills. It ends itself after two minutes in case nothing kills it.
func hangMain() {
	fmt.Printf("hanging %d\n", os.Getpid())
	<-time.After(2 * time.Minute)
	os.Exit(3)
}
