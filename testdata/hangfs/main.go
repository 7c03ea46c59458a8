// Command hangfs runs inside the dump generator's guests: it is the FUSE
// server that stages hangs, the orchestrator of the scenarios, and the writer of
// the guest's own record that tests compare kwalk with.
//
// It is built static (CGO_ENABLED=0) and copied into each guest's initramfs.
//
//	hangfs serve MOUNTPOINT MODE     serve a FUSE file system (modes: see fs.go)
//	hangfs scenario NAME[,NAME...]   stage the named scenarios, print the record, wait forever
//	hangfs record                    print the record (between KWALK-TRUTH-BEGIN/END)
//	hangfs threads N                 start N parked threads and wait forever
//	hangfs waitfile PATH SECONDS     wait until PATH exists
//	hangfs lock PATH STEP...         take file locks in turn and sleep holding them (waiters.go)
//	hangfs sharedread PATH           read one descriptor of PATH from two threads
//	hangfs benign LIST               threads asleep in benign system calls
//	hangfs pifutex PATH hold|wait    hold or wait for a PI futex in PATH's first word (stuck2_cmds.go)
//	hangfs vfork                     vfork a child that pauses before it would exec
//	hangfs ptrace PID                keep every thread of PID in a ptrace stop
//	hangfs nbd DEV unix|tcp          an NBD client of DEV with its own server (nbd.go)
//	hangfs nbdserve                  the NBD server on fd 3
//	hangfs nfsserve PORT             an NFSv3 server of an in-memory file system on 127.0.0.1:PORT (nfs.go)
//	hangfs fileop OP FILE            open FILE, then when told read a page or ftruncate (OP read|truncate=N)
//	hangfs noinit MOUNTPOINT         mount FUSE and never read /dev/fuse (stuck3_fuse.go)
//	hangfs mmapsync FILE             dirty FILE's first page through a shared mapping, fsync
package main

import (
	"fmt"
	"os"
	"strconv"
	"time"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintf(os.Stderr, "hangfs: %v\n", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	if len(args) == 0 {
		return fmt.Errorf("usage: hangfs serve|scenario|record|threads|waitfile|lock|sharedread|benign|pifutex|vfork|ptrace ...")
	}
	switch cmd, rest := args[0], args[1:]; cmd {
	case "serve":
		if len(rest) != 2 {
			return fmt.Errorf("usage: hangfs serve MOUNTPOINT MODE")
		}
		return serve(rest[0], rest[1])
	case "scenario":
		if len(rest) != 1 {
			return fmt.Errorf("usage: hangfs scenario NAME[,NAME...]")
		}
		return runScenarios(rest[0])
	case "record":
		return writeRecord(os.Stdout, nil, nil, nil, nil)
	case "threads":
		if len(rest) != 1 {
			return fmt.Errorf("usage: hangfs threads N")
		}
		n, err := strconv.Atoi(rest[0])
		if err != nil || n < 0 {
			return fmt.Errorf("threads: bad count %q", rest[0])
		}
		return parkThreads(n, nil)
	case "waitfile":
		if len(rest) != 2 {
			return fmt.Errorf("usage: hangfs waitfile PATH SECONDS")
		}
		secs, err := strconv.Atoi(rest[1])
		if err != nil {
			return fmt.Errorf("waitfile: bad timeout %q", rest[1])
		}
		return waitFile(rest[0], time.Duration(secs)*time.Second)
	case "lock":
		if len(rest) < 2 {
			return fmt.Errorf("usage: hangfs lock PATH STEP...")
		}
		return lockCmd(rest[0], rest[1:])
	case "sharedread":
		if len(rest) != 1 {
			return fmt.Errorf("usage: hangfs sharedread PATH")
		}
		return sharedRead(rest[0])
	case "benign":
		if len(rest) != 1 {
			return fmt.Errorf("usage: hangfs benign LIST")
		}
		return benign(rest[0])
	case "pifutex":
		if len(rest) != 2 {
			return fmt.Errorf("usage: hangfs pifutex PATH hold|wait")
		}
		return piFutex(rest[0], rest[1])
	case "vfork":
		return vforkCmd()
	case "coredump":
		if len(rest) != 1 {
			return fmt.Errorf("usage: hangfs coredump FILE")
		}
		return coredumpCmd(rest[0])
	case "mmapowner":
		if len(rest) != 1 {
			return fmt.Errorf("usage: hangfs mmapowner FILE")
		}
		return mmapOwner(rest[0])
	case "nfsserve":
		if len(rest) != 1 {
			return fmt.Errorf("usage: hangfs nfsserve PORT")
		}
		return nfsServe(rest[0])
	case "fileop":
		if len(rest) != 2 {
			return fmt.Errorf("usage: hangfs fileop read|truncate=N FILE")
		}
		return fileOp(rest[0], rest[1])
	case "noinit":
		if len(rest) != 1 {
			return fmt.Errorf("usage: hangfs noinit MOUNTPOINT")
		}
		return noInit(rest[0])
	case "mmapsync":
		if len(rest) != 1 {
			return fmt.Errorf("usage: hangfs mmapsync FILE")
		}
		return mmapSync(rest[0])
	case "peek":
		if len(rest) != 2 {
			return fmt.Errorf("usage: hangfs peek PID ADDR")
		}
		return peek(rest[0], rest[1])
	case "nbd":
		if len(rest) != 2 {
			return fmt.Errorf("usage: hangfs nbd DEV unix|tcp")
		}
		return nbdClient(rest[0], rest[1])
	case "nbdserve":
		return nbdServe()
	case "ptrace":
		if len(rest) != 1 {
			return fmt.Errorf("usage: hangfs ptrace PID")
		}
		pid, err := strconv.Atoi(rest[0])
		if err != nil || pid <= 0 {
			return fmt.Errorf("ptrace: bad pid %q", rest[0])
		}
		return ptraceCmd(pid)
	default:
		return fmt.Errorf("unknown command %q", cmd)
	}
}

// waitFile polls for path until it exists or the timeout passes.
func waitFile(path string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		if _, err := os.Stat(path); err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("waitfile: %s did not appear within %v", path, timeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
