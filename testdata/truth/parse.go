package truth

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
)

// Console markers.
const (
	BeginMarker  = "KWALK-TRUTH-BEGIN"
	EndMarker    = "KWALK-TRUTH-END"
	ReadyMarker  = "KWALK-SCENARIO-READY"
	FailedMarker = "KWALK-SCENARIO-FAILED"
)

// maxLine bounds one console line; longer lines are an error.
const maxLine = 1 << 20

// ParseFile parses the record in a console log file.
func ParseFile(path string) (*Record, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("truth: %w", err)
	}
	defer f.Close()
	r, err := Parse(f)
	if err != nil {
		return nil, fmt.Errorf("truth: %s: %w", path, err)
	}
	return r, nil
}

// Parse reads a console log and returns the first complete record in it.
// Lines before KWALK-TRUTH-BEGIN are skipped; a missing begin or end marker is
// an error, as is a task detail line before any task line.
func Parse(rd io.Reader) (*Record, error) {
	sc := bufio.NewScanner(rd)
	sc.Buffer(make([]byte, 0, 64*1024), maxLine)
	rec := &Record{Meta: map[string]string{}, Roles: map[string]int{}}
	lineNo, inBlock, done := 0, false, false
	var cur *Task
	var live liveState
	for sc.Scan() {
		lineNo++
		// Serial consoles end lines with \r\n; terminals add escapes at the
		// start of a line. Markers are matched anywhere on their line.
		line := strings.TrimRight(sc.Text(), "\r")
		switch {
		case !inBlock && !done:
			if strings.Contains(line, BeginMarker) {
				inBlock = true
			} else if strings.Contains(line, FailedMarker) {
				return nil, fmt.Errorf("line %d: guest reported failure: %s", lineNo, strings.TrimSpace(line))
			}
			continue
		case done:
			if ok, err := rec.liveLine(&live, line); err != nil {
				return nil, fmt.Errorf("line %d: %w", lineNo, err)
			} else if ok {
				continue
			}
			if strings.Contains(line, ReadyMarker) {
				rec.Ready = true
				rec.index()
				return rec, nil
			}
			continue
		}
		if strings.Contains(line, EndMarker) {
			if cur != nil {
				rec.Tasks = append(rec.Tasks, *cur)
				cur = nil
			}
			inBlock, done = false, true
			continue
		}
		if err := rec.parseLine(line, &cur); err != nil {
			return nil, fmt.Errorf("line %d: %w", lineNo, err)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("line %d: %w", lineNo+1, err)
	}
	if !inBlock && !done {
		return nil, fmt.Errorf("no %s marker", BeginMarker)
	}
	if inBlock {
		return nil, fmt.Errorf("no %s marker after %d lines", EndMarker, lineNo)
	}
	rec.index()
	return rec, nil
}

func (rec *Record) index() {
	rec.byTID = make(map[int]int, len(rec.Tasks))
	for i, t := range rec.Tasks {
		if _, dup := rec.byTID[t.TID]; !dup {
			rec.byTID[t.TID] = i
		}
	}
}

func (rec *Record) parseLine(line string, cur **Task) error {
	trimmed := strings.TrimSpace(line)
	switch {
	case trimmed == "":
		return nil
	case strings.HasPrefix(trimmed, "task "):
		t, err := parseTask(trimmed)
		if err != nil {
			return err
		}
		if *cur != nil {
			rec.Tasks = append(rec.Tasks, **cur)
		}
		*cur = &t
		return nil
	case strings.HasPrefix(trimmed, "stack "):
		if *cur == nil {
			return fmt.Errorf("stack line before any task: %q", clip(line))
		}
		f, err := parseFrame(strings.TrimSpace(trimmed[len("stack "):]))
		if err != nil {
			return err
		}
		(*cur).Stack = append((*cur).Stack, f)
		return nil
	case strings.HasPrefix(trimmed, "fd "):
		if *cur == nil {
			return fmt.Errorf("fd line before any task: %q", clip(line))
		}
		fd, ok, err := parseFD(line)
		if err != nil {
			return err
		}
		if ok {
			(*cur).FDs = append((*cur).FDs, fd)
		}
		return nil
	case strings.HasPrefix(trimmed, "map "):
		if *cur == nil {
			return fmt.Errorf("map line before any task: %q", clip(line))
		}
		(*cur).Maps = append((*cur).Maps, trimmed[len("map "):])
		return nil
	case strings.HasPrefix(trimmed, "file "):
		rec.curFile = trimmed[len("file "):]
		if rec.Files == nil {
			rec.Files = map[string][]string{}
		}
		rec.Files[rec.curFile] = []string{}
		return nil
	case trimmed == "|" || strings.HasPrefix(trimmed, "| "):
		if rec.curFile == "" {
			return fmt.Errorf("file content line before any file line: %q", clip(line))
		}
		// Keep the file's own leading spaces: only the "  | " is ours.
		_, content, _ := strings.Cut(line, "| ")
		rec.Files[rec.curFile] = append(rec.Files[rec.curFile], content)
		return nil
	case strings.HasPrefix(trimmed, "fuseconn "):
		c, err := parseFuseConn(trimmed)
		if err != nil {
			return err
		}
		rec.FuseConn = append(rec.FuseConn, c)
		return nil
	case strings.HasPrefix(trimmed, "lock "):
		l, err := parseLock(trimmed[len("lock "):])
		if err != nil {
			return err
		}
		rec.Locks = append(rec.Locks, l)
		return nil
	case strings.HasPrefix(trimmed, "meta "):
		k, v, ok := strings.Cut(trimmed[len("meta "):], "=")
		if !ok {
			return fmt.Errorf("meta line without '=': %q", clip(line))
		}
		rec.Meta[k] = v
		return nil
	case strings.HasPrefix(trimmed, "role "):
		name, pid, ok := strings.Cut(trimmed[len("role "):], " pid=")
		n, err := strconv.Atoi(pid)
		if !ok || err != nil || name == "" {
			return fmt.Errorf("bad role line %q", clip(line))
		}
		rec.Roles[name] = n
		return nil
	case trimmed[0] >= '0' && trimmed[0] <= '9':
		m, err := parseMount(trimmed)
		if err != nil {
			rec.Unparsed = append(rec.Unparsed, line)
			return nil
		}
		rec.Mounts = append(rec.Mounts, m)
		return nil
	default:
		rec.Unparsed = append(rec.Unparsed, line)
		return nil
	}
}

// parseTask reads "task tid=T pid=P comm=NAME state=S SigPnd:=H ShdPnd:=H
// [key=value...]". NAME may hold spaces: it runs to the last " state=".
func parseTask(s string) (Task, error) {
	t := Task{PPID: -1, CPU: -1}
	rest := s[len("task "):]
	ci := strings.Index(rest, "comm=")
	si := strings.LastIndex(rest, " state=")
	if ci < 0 || si < ci {
		return t, fmt.Errorf("task line without comm= and state=: %q", clip(s))
	}
	t.Comm = rest[ci+len("comm=") : si]
	fields := append(strings.Fields(rest[:ci]), strings.Fields(rest[si+1:])...)
	var seen [2]bool // tid, pid
	for _, f := range fields {
		k, v, ok := strings.Cut(f, "=")
		if !ok {
			return t, fmt.Errorf("task field %q without '=' in %q", f, clip(s))
		}
		k = strings.TrimSuffix(k, ":") // older records wrote "SigPnd:=..."
		var err error
		switch k {
		case "tid":
			t.TID, err = strconv.Atoi(v)
			seen[0] = true
		case "pid":
			t.PID, err = strconv.Atoi(v)
			seen[1] = true
		case "state":
			if len(v) != 1 {
				err = fmt.Errorf("state %q is not one letter", v)
			} else {
				t.State = v[0]
			}
		case "SigPnd":
			t.SigPnd, err = strconv.ParseUint(v, 16, 64)
		case "ShdPnd":
			t.ShdPnd, err = strconv.ParseUint(v, 16, 64)
		case "ppid":
			t.PPID, err = strconv.Atoi(v)
		case "flags":
			t.Flags, err = strconv.ParseUint(v, 0, 64)
			t.HasFlags = err == nil
		case "cpu":
			t.CPU, err = strconv.Atoi(v)
		case "SigBlk", "SigIgn", "SigCgt":
			var m uint64
			if m, err = strconv.ParseUint(v, 16, 64); err == nil {
				t.HasSigMasks = true
				switch k {
				case "SigBlk":
					t.SigBlk = m
				case "SigIgn":
					t.SigIgn = m
				default:
					t.SigCgt = m
				}
			}
		}
		if err != nil {
			return t, fmt.Errorf("task field %s: %w in %q", k, err, clip(s))
		}
	}
	if !seen[0] || !seen[1] || t.State == 0 {
		return t, fmt.Errorf("task line lacks tid, pid or state: %q", clip(s))
	}
	return t, nil
}

// parseFrame reads "[<0>] func+0xoff/0xlen [module]" (lib/vsprintf.c %pB
// as printed by fs/proc/base.c proc_pid_stack).
func parseFrame(s string) (Frame, error) {
	var f Frame
	if strings.HasPrefix(s, "[<") {
		end := strings.Index(s, ">]")
		if end < 0 {
			return f, fmt.Errorf("stack frame %q: unterminated address", clip(s))
		}
		s = strings.TrimSpace(s[end+2:])
	}
	sym, mod, _ := strings.Cut(s, " ")
	if mod = strings.TrimSpace(mod); mod != "" {
		if !strings.HasPrefix(mod, "[") || !strings.HasSuffix(mod, "]") {
			return f, fmt.Errorf("stack frame %q: bad module %q", clip(s), mod)
		}
		f.Module = mod[1 : len(mod)-1]
	}
	name, offs, ok := strings.Cut(sym, "+")
	if !ok {
		// A bare address or symbol without offset (rare): keep it whole.
		f.Func = sym
		return f, nil
	}
	off, size, ok := strings.Cut(offs, "/")
	if !ok {
		return f, fmt.Errorf("stack frame %q: no /size", clip(s))
	}
	var err error
	if f.Offset, err = strconv.ParseUint(off, 0, 64); err != nil {
		return f, fmt.Errorf("stack frame %q: offset: %w", clip(s), err)
	}
	if f.Size, err = strconv.ParseUint(size, 0, 64); err != nil {
		return f, fmt.Errorf("stack frame %q: size: %w", clip(s), err)
	}
	f.Func = name
	return f, nil
}

// parseFD reads "fd N -> TARGET". Records made by a shell glob write
// "fd * -> " for a leader without open files: ok is false then.
func parseFD(line string) (FD, bool, error) {
	s := strings.TrimLeft(line, " \t")[len("fd "):]
	num, target, ok := strings.Cut(s, " -> ")
	if !ok {
		if strings.TrimSpace(s) == "* ->" {
			return FD{}, false, nil
		}
		return FD{}, false, fmt.Errorf("fd line without ' -> ': %q", clip(line))
	}
	if num == "*" {
		return FD{}, false, nil
	}
	n, err := strconv.Atoi(num)
	if err != nil || n < 0 {
		return FD{}, false, fmt.Errorf("fd line %q: bad number", clip(line))
	}
	return FD{Num: n, Target: target}, true, nil
}

func parseFuseConn(s string) (FuseConn, error) {
	f := strings.Fields(s)
	if len(f) != 3 || !strings.HasPrefix(f[2], "waiting=") {
		return FuseConn{}, fmt.Errorf("bad fuseconn line %q", clip(s))
	}
	dev, err := strconv.ParseUint(f[1], 10, 32)
	if err != nil {
		return FuseConn{}, fmt.Errorf("fuseconn %q: %w", clip(s), err)
	}
	w, err := strconv.Atoi(f[2][len("waiting="):])
	if err != nil {
		return FuseConn{}, fmt.Errorf("fuseconn %q: %w", clip(s), err)
	}
	return FuseConn{Dev: uint32(dev), Waiting: w}, nil
}

// parseLock reads a line of /proc/locks (fs/locks.c locks_show and
// lock_get_status):
//
//	ID: [PAD-> ]CLASS MODE TYPE PID MAJ:MIN:INODE START END
//
// where a request blocked at depth n has n-1 spaces of PAD before "-> ",
// MAJ and MIN are hex, INODE decimal, END "EOF" or a number, and a lock
// without an inode has "<none>:0" for MAJ:MIN:INODE.
func parseLock(s string) (Lock, error) {
	var l Lock
	id, rest, ok := strings.Cut(s, ": ")
	if !ok {
		return l, fmt.Errorf("lock line %q: no \"ID: \"", clip(s))
	}
	var err error
	if l.ID, err = strconv.Atoi(id); err != nil {
		return l, fmt.Errorf("lock line %q: id: %w", clip(s), err)
	}
	if pad := len(rest) - len(strings.TrimLeft(rest, " ")); strings.HasPrefix(rest[pad:], "->") {
		l.Depth = pad + 1
		rest = rest[pad+len("->"):]
	}
	f := strings.Fields(rest)
	if len(f) != 7 {
		return l, fmt.Errorf("lock line %q: %d fields after the id, want 7", clip(s), len(f))
	}
	l.Class, l.Mode, l.Type = f[0], f[1], f[2]
	if l.PID, err = strconv.Atoi(f[3]); err != nil {
		return l, fmt.Errorf("lock line %q: pid: %w", clip(s), err)
	}
	if f[4] != "<none>:0" {
		dev := strings.Split(f[4], ":")
		if len(dev) != 3 {
			return l, fmt.Errorf("lock line %q: device and inode %q", clip(s), f[4])
		}
		ma, err1 := strconv.ParseUint(dev[0], 16, 32)
		mi, err2 := strconv.ParseUint(dev[1], 16, 32)
		ino, err3 := strconv.ParseUint(dev[2], 10, 64)
		if err1 != nil || err2 != nil || err3 != nil {
			return l, fmt.Errorf("lock line %q: device and inode %q", clip(s), f[4])
		}
		l.HasInode, l.Major, l.Minor, l.Inode = true, uint32(ma), uint32(mi), ino
	}
	if l.Start, err = strconv.ParseInt(f[5], 10, 64); err != nil {
		return l, fmt.Errorf("lock line %q: start: %w", clip(s), err)
	}
	if f[6] == "EOF" {
		l.End = LockEOF
	} else if l.End, err = strconv.ParseInt(f[6], 10, 64); err != nil {
		return l, fmt.Errorf("lock line %q: end: %w", clip(s), err)
	}
	return l, nil
}

// parseMount reads a mountinfo line (fs/proc_namespace.c show_mountinfo):
// ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTS [OPTIONAL...] - FSTYPE SOURCE SUPEROPTS
func parseMount(s string) (Mount, error) {
	var m Mount
	f := strings.Fields(s)
	sep := -1
	for i := 6; i < len(f); i++ {
		if f[i] == "-" {
			sep = i
			break
		}
	}
	if len(f) < 7 || sep < 0 || len(f) < sep+3 {
		return m, fmt.Errorf("mountinfo line %q: too few fields", clip(s))
	}
	var err error
	if m.ID, err = strconv.Atoi(f[0]); err != nil {
		return m, fmt.Errorf("mountinfo id: %w", err)
	}
	if m.ParentID, err = strconv.Atoi(f[1]); err != nil {
		return m, fmt.Errorf("mountinfo parent: %w", err)
	}
	maj, min, ok := strings.Cut(f[2], ":")
	if !ok {
		return m, fmt.Errorf("mountinfo dev %q", f[2])
	}
	ma, err1 := strconv.ParseUint(maj, 10, 32)
	mi, err2 := strconv.ParseUint(min, 10, 32)
	if err1 != nil || err2 != nil {
		return m, fmt.Errorf("mountinfo dev %q", f[2])
	}
	m.Major, m.Minor = uint32(ma), uint32(mi)
	m.Root, m.MountPoint, m.Options = unescape(f[3]), unescape(f[4]), f[5]
	m.FSType, m.Source = f[sep+1], unescape(f[sep+2])
	if len(f) > sep+3 {
		m.SuperOptions = f[sep+3]
	}
	return m, nil
}

// unescape undoes mountinfo's octal escapes (\040 for space, ...).
func unescape(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+4 <= len(s) {
			if v, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(v))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func clip(s string) string {
	if len(s) > 120 {
		return s[:120] + "..."
	}
	return s
}
