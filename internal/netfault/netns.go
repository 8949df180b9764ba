package netfault

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// netnsDir is where ip keeps its named namespaces.
const netnsDir = "/var/run/netns/"

// runIP runs ip with args and returns its standard output.
func runIP(ipBin string, args ...string) (string, error) {
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(ipBin, args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("ip %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return stdout.String(), nil
}

// ipBatch runs ip commands (without the leading "ip") in namespace ns, or
// in the root namespace when ns is "", in one ip process, stopping at the
// first that fails.
func ipBatch(ipBin, ns string, cmds ...string) error {
	args := []string{"-batch", "-"}
	where := "the root namespace"
	if ns != "" {
		args = append([]string{"-n", ns}, args...)
		where = ns
	}
	var stderr bytes.Buffer
	cmd := exec.Command(ipBin, args...)
	cmd.Stdin = strings.NewReader(strings.Join(cmds, "\n") + "\n")
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("ip in %s: %w: %s (commands: %s)", where, err, strings.TrimSpace(stderr.String()), strings.Join(cmds, "; "))
	}
	return nil
}

// inNetns runs f on a thread locked to it that has entered the named
// namespace: sockets f creates belong to that namespace (and stay in it),
// and so does what f reads and writes under /proc/sys/net. The thread
// goes back to its own namespace afterwards and is released; it is never
// left to end, since a thread that ends takes with it the Pdeathsig of the
// processes started from it (see Command).
func inNetns(ns string, f func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		home, err := unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("opening this thread's namespace: %w", err)
			return
		}
		defer unix.Close(home)
		fd, err := unix.Open(netnsDir+ns, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("opening namespace %s: %w", ns, err)
			return
		}
		err = unix.Setns(fd, unix.CLONE_NEWNET)
		unix.Close(fd)
		if err != nil {
			err = fmt.Errorf("entering namespace %s: %w", ns, err)
		} else {
			err = f()
		}
		if rerr := unix.Setns(home, unix.CLONE_NEWNET); rerr != nil {
			// Still locked: the runtime ends the thread rather than run
			// other goroutines in the wrong namespace.
			errc <- errors.Join(err, fmt.Errorf("returning from namespace %s: %w", ns, rerr))
			return
		}
		runtime.UnlockOSThread()
		errc <- err // f's own, unwrapped: a dial's stays a *net.OpError
	}()
	return <-errc
}

// acquire takes network number id for this process, if no live process
// holds it: the abstract socket goes away with the process that bound it,
// however it ends.
func acquire(id int) (*net.UnixListener, error) {
	return net.ListenUnix("unix", &net.UnixAddr{Name: lockPrefix + strconv.Itoa(id), Net: "unix"})
}

// acquireFree takes the lowest free network number.
func acquireFree() (int, *net.UnixListener, error) {
	var last error
	for id := range netIDs {
		l, err := acquire(id)
		if err == nil {
			return id, l, nil
		}
		last = err
	}
	return 0, nil, fmt.Errorf("all %d network numbers are in use (last: %v)", netIDs, last)
}

// parseID returns the network number of a namespace or link name the
// harness made: namePrefix, the number, then the end or "-".
func parseID(name string) (int, bool) {
	rest, ok := strings.CutPrefix(name, namePrefix)
	if !ok {
		return 0, false
	}
	digits, _, _ := strings.Cut(rest, "-")
	id, err := strconv.Atoi(digits)
	if err != nil || id < 0 || id >= netIDs || strconv.Itoa(id) != digits {
		return 0, false
	}
	return id, true
}

// namespaces lists ip's named namespaces.
func namespaces(ipBin string) ([]string, error) {
	out, err := runIP(ipBin, "netns", "list")
	if err != nil {
		return nil, err
	}
	var names []string
	for line := range strings.Lines(out) {
		if f := strings.Fields(line); len(f) > 0 {
			names = append(names, f[0])
		}
	}
	return names, nil
}

// rootLinks lists the root namespace's links ("veth0@if3" as "veth0").
func rootLinks(ipBin string) ([]string, error) {
	out, err := runIP(ipBin, "-o", "link", "show")
	if err != nil {
		return nil, err
	}
	var names []string
	for line := range strings.Lines(out) {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		name, _, _ := strings.Cut(strings.TrimSuffix(f[1], ":"), "@")
		names = append(names, name)
	}
	return names, nil
}

// harnessNames returns the namespaces and root links whose name carries
// network number id, or every harness name when id is -1, by number.
func harnessNames(ipBin string, id int) (map[int][]string, error) {
	nss, err := namespaces(ipBin)
	if err != nil {
		return nil, err
	}
	links, err := rootLinks(ipBin)
	if err != nil {
		return nil, err
	}
	found := map[int][]string{}
	for _, name := range append(nss, links...) {
		if got, ok := parseID(name); ok && (id < 0 || got == id) {
			found[got] = append(found[got], name)
		}
	}
	return found, nil
}

// sweep removes what killed runs left: the namespaces and links of every
// network number no live process holds, and those of own, which this
// process has just taken. It logs what it removed.
func sweep(t testing.TB, ipBin string, own int) error {
	t.Helper()
	found, err := harnessNames(ipBin, -1)
	if err != nil {
		return err
	}
	var errs []error
	for id, names := range found {
		if id != own {
			l, err := acquire(id)
			if err != nil {
				continue // a live Net, in this process or another
			}
			defer l.Close()
		}
		slices.Sort(names)
		t.Logf("netfault: removing %s, left by an earlier run that was killed", strings.Join(names, ", "))
		killed, err := removeID(ipBin, id)
		for _, k := range killed {
			t.Logf("netfault: killed %s, left running by an earlier run", k)
		}
		if err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// removeID kills every process in the namespaces of network number id and
// removes those namespaces and the root link, returning what it killed.
// The caller holds id.
func removeID(ipBin string, id int) (killed []string, err error) {
	found, err := harnessNames(ipBin, id)
	if err != nil {
		return nil, err
	}
	names := found[id]
	slices.Sort(names)
	var errs []error
	var nss []string
	for _, name := range names {
		if strings.Contains(name, "-") {
			nss = append(nss, name)
			continue
		}
		// The root link first: deleting it is synchronous, while the
		// devices of a deleted namespace go away in the background.
		if _, err := runIP(ipBin, "link", "del", name); err != nil {
			errs = append(errs, err)
		}
	}
	for _, ns := range nss {
		out, err := runIP(ipBin, "netns", "pids", ns)
		if err != nil {
			errs = append(errs, err)
		}
		for _, f := range strings.Fields(out) {
			pid, err := strconv.Atoi(f)
			if err != nil || pid == os.Getpid() {
				continue // never this process, one of whose threads may be in ns
			}
			what := fmt.Sprintf("pid %d (%s) in %s", pid, command(pid), ns)
			if err := syscall.Kill(pid, syscall.SIGKILL); err == nil {
				killed = append(killed, what)
			}
		}
		if _, err := runIP(ipBin, "netns", "del", ns); err != nil {
			errs = append(errs, err)
		}
	}
	return killed, errors.Join(errs...)
}

// command is the name of process pid, for the log.
func command(pid int) string {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/comm")
	if err != nil {
		return "?"
	}
	return strings.TrimSpace(string(b))
}
