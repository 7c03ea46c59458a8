package vfs

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/kwalk/kwalk/walkers/kmem"
	"github.com/kwalk/kwalk/walkers/sched"
	"github.com/kwalk/kwalk/walkers/walktest"
)

func TestDentryPath(t *testing.T) {
	s := walktest.NewVFSScene()
	p := s.Finish()
	cases := []struct {
		name          string
		mnt, dentry   uint64
		want, wantErr string
		setup         func()
	}{
		{name: "across a mount", mnt: s.Vfsmnt(s.FuseMnt), dentry: s.Data, want: "/mnt/w/data"},
		{name: "mount root", mnt: s.Vfsmnt(s.FuseMnt), dentry: s.MountRoot(s.FuseMnt), want: "/mnt/w"},
		{name: "rootfs dir", mnt: s.Vfsmnt(s.RootMnt), dentry: s.WDir, want: "/mnt/w"},
		{name: "namespace root", mnt: s.Vfsmnt(s.RootMnt), dentry: s.MountRoot(s.RootMnt), want: "/"},
		{name: "no mount", mnt: 0, dentry: s.Data, want: "/data"},
		{name: "bind mount of a subdirectory", mnt: s.Vfsmnt(s.BindMnt), dentry: s.BindFile, want: "/tmp/b/file"},
		{name: "bind mount root", mnt: s.Vfsmnt(s.BindMnt), dentry: s.BindSrc, want: "/tmp/b"},
		{
			name: "unhashed", mnt: s.Vfsmnt(s.FuseMnt), dentry: s.Data, want: "/mnt/w/data (deleted)",
			setup: func() { s.Mem.WriteU64(s.Data+s.Off("struct dentry", "d_hash.pprev"), 0) },
		},
		{
			name: "parent loop", mnt: 0, dentry: s.WDir, wantErr: "loop",
			setup: func() { s.Mem.WriteU64(s.MntDir+s.Off("struct dentry", "d_parent"), s.WDir) },
		},
		{
			name: "garbage parent", mnt: 0, dentry: s.WDir, wantErr: "0xffff888012340000", want: "…/mnt/w",
			setup: func() { s.Mem.WriteU64(s.MntDir+s.Off("struct dentry", "d_parent"), 0xffff888012340000) },
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if c.setup != nil {
				c.setup()
			}
			got, err := DentryPath(p, c.mnt, c.dentry)
			if c.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), c.wantErr) {
					t.Fatalf("DentryPath = %q, %v; want an error with %q", got, err, c.wantErr)
				}
				if c.want != "" && got != c.want {
					t.Errorf("partial path %q, want %q", got, c.want)
				}
				return
			}
			if err != nil || got != c.want {
				t.Fatalf("DentryPath = %q, %v; want %q", got, err, c.want)
			}
		})
	}
}

func TestFilesAndPseudoNames(t *testing.T) {
	s := walktest.NewVFSScene()
	task := s.AddProcess(110, s.InitTask, "dd", sched.TaskInterruptible, 0)
	fData := s.NewFile(s.FuseMnt, s.Data)
	fPipe := s.NewFile(s.PipeMnt, s.PipeD)
	fAnon := s.NewFile(s.AnonMnt, s.AnonD)
	stale := s.NewFile(s.FuseMnt, s.Data)
	// fd 5 has a file pointer but its open_fds bit is clear: open_fds
	// decides.
	s.SetFiles(task, 128, map[int]uint64{0: fPipe, 1: fData, 2: fAnon, 5: stale, 70: fData}, []int{0, 1, 2, 70})
	p := s.Finish()
	tk, err := sched.TaskByPID(p, 110)
	if err != nil {
		t.Fatal(err)
	}
	files, err := Files(p, tk)
	if err != nil {
		t.Fatal(err)
	}
	got := map[int]string{}
	for _, f := range files {
		got[f.FD] = f.Path + " " + f.Type + " " + f.FSType
		if len(f.Errors) > 0 {
			t.Errorf("fd %d: %v", f.FD, f.Errors)
		}
	}
	want := map[int]string{
		0:  "pipe:[11308] FIFO pipefs",
		1:  "/mnt/w/data REG fuse",
		2:  "anon_inode:[eventpoll]  anon_inodefs",
		70: "/mnt/w/data REG fuse",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("files:\n got %v\nwant %v", got, want)
	}
	if path, err := InodePath(p, s.DataInode); err != nil || path != "/mnt/w/data" {
		t.Errorf("InodePath = %q, %v", path, err)
	}
	si, err := InodeSuper(p, s.DataInode)
	if err != nil || si.FullType() != "fuse.hangfs" || si.Minor() != 24 {
		t.Errorf("InodeSuper = %+v, %v", si, err)
	}

	// A garbage fd array pointer: an error naming the fdtable, no panic.
	fdt, _ := p.ReadU64(tk.Addr + s.Off("struct task_struct", "files"))
	fdt, _ = p.ReadU64(fdt + s.Off("struct files_struct", "fdt"))
	s.Mem.WriteU64(fdt+s.Off("struct fdtable", "fd"), 0xffff888055550000)
	if _, err := Files(p, tk); err == nil || !strings.Contains(err.Error(), "fdtable") {
		t.Errorf("garbage fd array: err %v", err)
	}
	// A lying max_fds is bounded.
	s.Mem.WriteU32(fdt+s.Off("struct fdtable", "max_fds"), 0xffffffff)
	if _, err := Files(p, tk); err == nil {
		t.Errorf("max_fds 2^32-1: no error")
	}
}

func TestMountsSynthetic(t *testing.T) {
	s := walktest.NewVFSScene()
	p := s.Finish()
	ms, err := NamespaceMounts(p, s.Ns)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, m := range ms {
		got = append(got, m.MountPoint+" "+m.FSType()+" "+m.Source)
	}
	// newMount links every mount (the pseudo ones too) on the list.
	want := []string{"/ rootfs rootfs", "/mnt/w fuse.hangfs hangfs-hang-write", "/tmp/b fuse.hangfs hangfs-hang-write",
		"/ pipefs pipefs", "/ anon_inodefs anon_inodefs"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("mounts %q, want %q", got, want)
	}
	if ms[2].Root != "/sub" || ms[1].Root != "/" {
		t.Errorf("bind mount root %q, fuse mount root %q", ms[2].Root, ms[1].Root)
	}
	if ms[1].ParentID != ms[0].ID || ms[0].ParentID != ms[0].ID {
		t.Errorf("parent ids: %+v", ms[:2])
	}
	// A cyclic namespace list is reported, with the mounts before it.
	o := s.Off("struct mount", "mnt_list")
	s.Mem.WriteU64(s.FuseMnt+o, s.RootMnt+o)
	ms, err = NamespaceMounts(p, s.Ns)
	if err == nil || !(errors.Is(err, kmem.ErrListCorrupt) || strings.Contains(err.Error(), "cycle")) || len(ms) < 1 {
		t.Errorf("cyclic list: %d mounts, %v", len(ms), err)
	}
}
