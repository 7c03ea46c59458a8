package truth

import (
	"os"
	"strings"
	"testing"
)

const sharedConsole = "../../../shared/vmcores/6.1-cloud/console.log"

// The record of the shared 6.1 dump, made by an earlier generator.
func TestParseSharedConsole(t *testing.T) {
	if _, err := os.Stat(sharedConsole); err != nil {
		t.Skipf("SKIP: shared dump console %s not present: %v", sharedConsole, err)
	}
	rec, err := ParseFile(sharedConsole)
	if err != nil {
		t.Fatal(err)
	}
	if !rec.Ready {
		t.Error("Ready = false, want the KWALK-SCENARIO-READY line to be seen")
	}
	if len(rec.Tasks) < 50 {
		t.Errorf("got %d tasks, want a full task list", len(rec.Tasks))
	}
	if len(rec.Unparsed) != 0 {
		t.Errorf("unparsed lines: %q", rec.Unparsed)
	}
	init := rec.Task(1)
	if init == nil || init.Comm != "init" || !init.IsLeader() || len(init.FDs) == 0 {
		t.Fatalf("task 1 = %+v, want init with fds", init)
	}
	// The square: dd waits for its WRITE, truncate/rm/touch wait in D.
	w, ok := rec.FuseWaiting("/mnt/w")
	if !ok || w < 1 {
		t.Errorf("FuseWaiting(/mnt/w) = %d, %v; want ≥1", w, ok)
	}
	var dd, flush *Task
	for _, tk := range rec.TasksIn("request_wait_answer") {
		if tk.Comm == "dd" && dd == nil {
			dd = tk
		}
		if tk.InStack("fuse_flush") {
			flush = tk
		}
	}
	if dd == nil {
		t.Fatal("no dd in request_wait_answer")
	}
	if f := dd.Stack[0]; f.Func != "request_wait_answer" || f.Module != "fuse" || f.Offset == 0 || f.Size <= f.Offset {
		t.Errorf("dd top frame = %+v", f)
	}
	if !hasFD(dd, "/mnt/w/data") && !hasFD(dd, "/mnt/c/data") {
		t.Errorf("dd fds = %+v, want a /mnt/*/data file", dd.FDs)
	}
	// The Netflix case: the killed server's last thread in fuse_flush with
	// SIGKILL pending for its group, and the pid namespace's init in
	// zap_pid_ns_processes.
	if flush == nil {
		t.Fatal("no task in fuse_flush")
	}
	if !flush.Pending(9) || flush.State != 'D' {
		t.Errorf("fuse_flush task = %+v, want D with SIGKILL pending", flush)
	}
	if len(rec.TasksIn("zap_pid_ns_processes")) != 1 {
		t.Errorf("tasks in zap_pid_ns_processes: %d, want 1", len(rec.TasksIn("zap_pid_ns_processes")))
	}
	if m := rec.Mount("/mnt/w"); m == nil || m.FSType != "fuse.hangfs" || m.Major != 0 {
		t.Errorf("mount /mnt/w = %+v", m)
	}
}

func hasFD(t *Task, target string) bool {
	for _, f := range t.FDs {
		if f.Target == target {
			return true
		}
	}
	return false
}

func TestParse(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		wantErr string
		check   func(t *testing.T, r *Record)
	}{
		{
			name: "new format",
			in: "boot noise\nKWALK-TRUTH-BEGIN\nmeta release=6.1.0-50-cloud-amd64\nmeta la57=1\nrole square.dd pid=7\n" +
				"26 1 0:24 / /mnt/w\\040x rw,nosuid - fuse.hangfs hangfs-hang-write rw,user_id=0\n" +
				"fuseconn 24 waiting=2\n" +
				"task tid=7 pid=7 comm=my prog state=D SigPnd:=0000000000000000 ShdPnd:=0000000000000100 ppid=1 flags=0x404044\n" +
				"  stack [<0>] fuse_flush+0x1a1/0x1e0 [fuse]\n  stack [<0>] do_exit+0x363/0xb10\n" +
				"  fd 0 -> /mnt/w x/held\n  fd 3 -> /dev/fuse\n" +
				"task tid=8 pid=7 comm=my prog state=S SigPnd:=0000000000000001 ShdPnd:=0000000000000000\n" +
				"KWALK-TRUTH-END\r\nKWALK-SCENARIO-READY\n",
			check: func(t *testing.T, r *Record) {
				if r.Release() != "6.1.0-50-cloud-amd64" || r.Meta["la57"] != "1" || r.Roles["square.dd"] != 7 || !r.Ready {
					t.Errorf("meta/roles/ready = %v %v %v", r.Meta, r.Roles, r.Ready)
				}
				if w, ok := r.FuseWaiting("/mnt/w x"); !ok || w != 2 {
					t.Errorf("FuseWaiting = %d %v", w, ok)
				}
				tk := r.Task(7)
				if tk == nil || tk.Comm != "my prog" || tk.State != 'D' || !tk.Pending(9) || !tk.Exiting() || tk.PPID != 1 {
					t.Fatalf("task 7 = %+v", tk)
				}
				if len(tk.Stack) != 2 || tk.Stack[0] != (Frame{"fuse_flush", 0x1a1, 0x1e0, "fuse"}) || tk.Stack[1].Module != "" {
					t.Errorf("stack = %+v", tk.Stack)
				}
				if len(tk.FDs) != 2 || tk.FDs[0].Target != "/mnt/w x/held" {
					t.Errorf("fds = %+v", tk.FDs)
				}
				if th := r.Threads(7); len(th) != 2 || th[1].IsLeader() || !th[1].Pending(1) || th[1].HasFlags {
					t.Errorf("threads = %+v", th)
				}
			},
		},
		{
			// /proc/locks as 6.1 prints it: a POSIX chain (217 holds byte
			// 0, 218 holds byte 1 and waits for byte 0, 219 waits for byte
			// 1), a flock with a waiter, OFD locks and a request blocked on
			// another request (depth 2).
			name: "locks",
			in: "KWALK-TRUTH-BEGIN\n" +
				"lock 1: POSIX  ADVISORY  WRITE 217 00:1a:12 0 0\n" +
				"lock 1: -> POSIX  ADVISORY  WRITE 218 00:1a:12 0 0\n" +
				"lock 2: POSIX  ADVISORY  WRITE 218 00:1a:12 1 1\n" +
				"lock 2: -> POSIX  ADVISORY  WRITE 219 00:1a:12 1 1\n" +
				"lock 3: FLOCK  ADVISORY  WRITE 200 fe:01:4294967296 0 EOF\n" +
				"lock 3: -> FLOCK  ADVISORY  WRITE 201 fe:01:4294967296 0 EOF\n" +
				"lock 3:  -> FLOCK  ADVISORY  READ 202 fe:01:4294967296 0 EOF\n" +
				"lock 4: OFDLCK ADVISORY  WRITE -1 00:1a:13 0 EOF\n" +
				"lock 4: -> OFDLCK ADVISORY  WRITE -1 00:1a:13 0 EOF\n" +
				"lock 5: POSIX  *NOINODE* READ 7 <none>:0 10 19\n" +
				"lock 6: LEASE  ACTIVE    READ 8 00:1a:14 0 EOF\n" +
				"KWALK-TRUTH-END\n",
			check: func(t *testing.T, r *Record) {
				if len(r.Locks) != 11 || len(r.Unparsed) != 0 {
					t.Fatalf("locks %+v, unparsed %q", r.Locks, r.Unparsed)
				}
				want := Lock{ID: 2, Depth: 1, Class: "POSIX", Mode: "ADVISORY", Type: "WRITE", PID: 219,
					HasInode: true, Major: 0, Minor: 0x1a, Inode: 12, Start: 1, End: 1}
				if r.Locks[3] != want {
					t.Errorf("chain a's request = %+v, want %+v", r.Locks[3], want)
				}
				if b := r.Blocker(3); b == nil || b.PID != 218 || b.Blocked() {
					t.Errorf("blocker of chain a = %+v, want 218's granted lock", b)
				}
				if b := r.Blocker(1); b == nil || b.PID != 217 || b.Start != 0 {
					t.Errorf("blocker of chain b = %+v, want 217's lock", b)
				}
				if r.Blocker(0) != nil || r.Blocker(99) != nil {
					t.Error("a granted lock or no lock has a blocker")
				}
				fl := r.Locks[4]
				if fl.Class != "FLOCK" || fl.Major != 0xfe || fl.Minor != 1 || fl.Inode != 1<<32 || fl.End != LockEOF || fl.Blocked() {
					t.Errorf("flock = %+v", fl)
				}
				if d2 := r.Locks[6]; d2.Depth != 2 || d2.Type != "READ" || r.Blocker(6) != &r.Locks[5] {
					t.Errorf("depth-2 request = %+v, blocker %+v", d2, r.Blocker(6))
				}
				if o := r.Locks[8]; o.Class != "OFDLCK" || o.PID != -1 || !o.Blocked() {
					t.Errorf("OFD request = %+v", o)
				}
				if n := r.Locks[9]; n.HasInode || n.Mode != "*NOINODE*" || n.Start != 10 || n.End != 19 {
					t.Errorf("no-inode lock = %+v", n)
				}
				if l := r.Locks[10]; l.Class != "LEASE" || l.Mode != "ACTIVE" {
					t.Errorf("lease = %+v", l)
				}
				if got := r.LocksOf(218); len(got) != 2 || !got[0].Blocked() || got[1].Blocked() {
					t.Errorf("LocksOf(218) = %+v", got)
				}
			},
		},
		{name: "bad lock", in: "KWALK-TRUTH-BEGIN\nlock 1: FLOCK  ADVISORY  WRITE x 00:1a:12 0 EOF\nKWALK-TRUTH-END\n", wantErr: "pid"},
		{name: "short lock", in: "KWALK-TRUTH-BEGIN\nlock 1: FLOCK ADVISORY\nKWALK-TRUTH-END\n", wantErr: "want 7"},
		{name: "no begin", in: "hello\n", wantErr: "no KWALK-TRUTH-BEGIN"},
		{name: "no end", in: "KWALK-TRUTH-BEGIN\ntask tid=1 pid=1 comm=x state=S\n", wantErr: "no KWALK-TRUTH-END"},
		{name: "failed", in: "KWALK-SCENARIO-FAILED square: timed out\n", wantErr: "guest reported failure"},
		{name: "stack first", in: "KWALK-TRUTH-BEGIN\n  stack [<0>] a+0x1/0x2\nKWALK-TRUTH-END\n", wantErr: "before any task"},
		{name: "bad state", in: "KWALK-TRUTH-BEGIN\ntask tid=1 pid=1 comm=x state=SS\nKWALK-TRUTH-END\n", wantErr: "not one letter"},
		{name: "bad sigpnd", in: "KWALK-TRUTH-BEGIN\ntask tid=1 pid=1 comm=x state=S SigPnd:=zz\nKWALK-TRUTH-END\n", wantErr: "SigPnd"},
		{
			name: "kernel noise inside",
			in:   "KWALK-TRUTH-BEGIN\n[   12.5] INFO: task dd blocked\ntask tid=1 pid=1 comm=init state=S\n  fd * -> \nKWALK-TRUTH-END\n",
			check: func(t *testing.T, r *Record) {
				if len(r.Unparsed) != 1 || len(r.Tasks) != 1 || r.Tasks[0].FDs != nil || r.Ready {
					t.Errorf("record = %+v", r)
				}
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, err := Parse(strings.NewReader(tc.in))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tc.check(t, r)
		})
	}
}

func FuzzParse(f *testing.F) {
	f.Add("KWALK-TRUTH-BEGIN\ntask tid=1 pid=1 comm=a b state=S SigPnd:=1 ShdPnd:=0 flags=0x4\n  stack [<0>] f+0x1/0x2 [m]\n  fd 1 -> /x\nfuseconn 3 waiting=1\n1 2 0:3 / / rw - t s o\nKWALK-TRUTH-END\nKWALK-SCENARIO-READY\n")
	f.Add("KWALK-TRUTH-BEGIN\nrole x pid=1\nmeta a=b\n  stack [<\nKWALK-TRUTH-END\n")
	f.Add("KWALK-TRUTH-BEGIN\nlock 1: POSIX  ADVISORY  WRITE 2 00:1a:12 0 EOF\nlock 1:  -> POSIX  ADVISORY  WRITE 3 00:1a:12 0 EOF\nKWALK-TRUTH-END\n")
	if b, err := os.ReadFile(sharedConsole); err == nil && len(b) < 1<<16 {
		f.Add(string(b))
	}
	f.Fuzz(func(t *testing.T, in string) {
		r, err := Parse(strings.NewReader(in))
		if err != nil {
			return
		}
		for i := range r.Tasks {
			tk := &r.Tasks[i]
			tk.Pending(9)
			tk.InStack("x")
			tk.CommMatches(tk.Comm)
		}
		for _, m := range r.Mounts {
			r.FuseWaiting(m.MountPoint)
		}
		for i := range r.Locks {
			r.Blocker(i)
		}
	})
}

func TestParseFilesAndMaps(t *testing.T) {
	in := strings.Join([]string{
		BeginMarker,
		"file /proc/meminfo",
		"  | MemTotal:         246328 kB",
		"  | ",
		"  |     indented",
		"task tid=7 pid=7 comm=sh state=S SigPnd:=0 ShdPnd:=0 ppid=1 flags=0x400000 cpu=1 SigBlk=0000000000010000 SigIgn=0 SigCgt=2",
		"  map 00400000-00401000 r-xp 00000000 00:02 5 /bin/sh",
		EndMarker,
	}, "\n")
	rec, err := Parse(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	if got := rec.Files["/proc/meminfo"]; len(got) != 3 || got[0] != "MemTotal:         246328 kB" || got[1] != "" || got[2] != "    indented" {
		t.Errorf("meminfo = %q", got)
	}
	tk := rec.Task(7)
	if tk == nil || tk.CPU != 1 || !tk.HasSigMasks || tk.SigBlk != 0x10000 || tk.SigCgt != 2 || len(tk.Maps) != 1 {
		t.Errorf("task = %+v", tk)
	}
}
