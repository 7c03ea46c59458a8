package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/kwalk/kwalk/testdata"
)

// cpioEntry is one file of an initramfs.
type cpioEntry struct {
	name string // without leading '/'
	mode uint32 // S_IF* | permissions
	data []byte // file contents or symlink target
}

const (
	sIFDIR = 0o040000
	sIFREG = 0o100000
)

// writeCPIO writes entries as a "newc" cpio archive
// (Documentation/driver-api/early-userspace/buffer-format.rst), with fixed
// owners and times so the same inputs give the same bytes.
func writeCPIO(w io.Writer, entries []cpioEntry) error {
	bw := bufio.NewWriter(w)
	sort.Slice(entries, func(i, j int) bool { return entries[i].name < entries[j].name })
	pad := func(n int) {
		for ; n%4 != 0; n++ {
			bw.WriteByte(0)
		}
	}
	ino := 1
	hdr := func(name string, mode uint32, size int) {
		nlink := 1
		if mode&sIFDIR != 0 {
			nlink = 2
		}
		fmt.Fprintf(bw, "070701%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X",
			ino, mode, 0, 0, nlink, 0, size, 0, 0, 0, 0, len(name)+1, 0)
		ino++
		bw.WriteString(name)
		bw.WriteByte(0)
		pad(110 + len(name) + 1)
	}
	for _, e := range entries {
		name := strings.TrimPrefix(e.name, "/")
		hdr(name, e.mode, len(e.data))
		bw.Write(e.data)
		pad(len(e.data))
	}
	hdr("TRAILER!!!", 0, 0)
	return bw.Flush()
}

// buildInitramfs writes the guest's initramfs: busybox, hangfs, kwalk, /init, the
// modules (fuse, qemu_fw_cfg and the guest's extra ones) and the scenario list.
func buildInitramfs(path string, pk *preparedKernel, hangfs, kwalk []byte, scenarios string, extraModules []string) error {
	busybox, err := os.ReadFile(busyboxPath)
	if err != nil {
		return fmt.Errorf("initramfs: %w (install busybox-static)", err)
	}
	return writeInitramfs(path, pk, busybox, hangfs, kwalk, scenarios, extraModules)
}

// writeInitramfs is buildInitramfs with the busybox binary given.
func writeInitramfs(path string, pk *preparedKernel, busybox, hangfs, kwalk []byte, scenarios string, extraModules []string) error {
	mods, err := pk.modulesFor(append([]string{"fuse", "qemu_fw_cfg"}, extraModules...)...)
	if err != nil {
		return fmt.Errorf("initramfs for %s: %w", pk.Release, err)
	}
	entries := []cpioEntry{
		{name: "bin", mode: sIFDIR | 0o755},
		{name: "dev", mode: sIFDIR | 0o755},
		{name: "etc", mode: sIFDIR | 0o755},
		{name: "lib", mode: sIFDIR | 0o755},
		{name: "lib/modules", mode: sIFDIR | 0o755},
		{name: "mnt", mode: sIFDIR | 0o755},
		{name: "proc", mode: sIFDIR | 0o755},
		{name: "sys", mode: sIFDIR | 0o755},
		{name: "tmp", mode: sIFDIR | 0o1777},
		{name: "bin/busybox", mode: sIFREG | 0o755, data: busybox},
		{name: "bin/sh", mode: 0o120777, data: []byte("busybox")},
		{name: "bin/hangfs", mode: sIFREG | 0o755, data: hangfs},
		{name: "bin/kwalk", mode: sIFREG | 0o755, data: kwalk},
		{name: "init", mode: sIFREG | 0o755, data: initScript},
		{name: "etc/kwalk-scenarios", mode: sIFREG | 0o644, data: []byte(scenarios + "\n")},
	}
	if slices.Contains(strings.Split(scenarios, ","), testdata.ScenarioJbd2) {
		img, err := ext3Image()
		if err != nil {
			return fmt.Errorf("initramfs: %w", err)
		}
		entries = append(entries, cpioEntry{name: "stuck3", mode: sIFDIR | 0o755},
			cpioEntry{name: "stuck3/ext3.img", mode: sIFREG | 0o644, data: img})
	}
	if slices.Contains(strings.Split(scenarios, ","), testdata.ScenarioUfutex) {
		arch := "amd64"
		if _, arm := testdata.Arm64KernelByID(pk.ID); arm {
			arch = "arm64"
		}
		bin, err := buildCprog("ufutex", arch) // cprog.go
		if err != nil {
			return fmt.Errorf("initramfs: %w", err)
		}
		entries = append(entries, cpioEntry{name: "bin/ufutex", mode: sIFREG | 0o755, data: bin})
	}
	if slices.Contains(strings.Split(scenarios, ","), testdata.ScenarioKmod) {
		ko, err := buildHangModule(pk) // kmod.go
		if err != nil {
			return fmt.Errorf("initramfs: %w", err)
		}
		entries = append(entries, cpioEntry{name: "kmod", mode: sIFDIR | 0o755},
			cpioEntry{name: "kmod/" + hangModuleName + ".ko", mode: sIFREG | 0o644, data: ko})
	}
	var load strings.Builder
	for _, m := range mods {
		entries = append(entries, cpioEntry{name: "lib/modules/" + m.name + ".ko", mode: sIFREG | 0o644, data: m.ko})
		load.WriteString(m.name + ".ko\n")
	}
	entries = append(entries, cpioEntry{name: "lib/modules/load", mode: sIFREG | 0o644, data: []byte(load.String())})
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := writeCPIO(f, entries); err != nil {
		f.Close()
		return fmt.Errorf("initramfs %s: %w", path, err)
	}
	return f.Close()
}

// ext3Image makes the jbd2 scenario's file system: a 4 MiB ext3 (ext2
// with a journal, which busybox's mke2fs cannot make) with 1 KiB
// blocks, by e2fsprogs' mke2fs on the host.
func ext3Image() ([]byte, error) {
	dir, err := os.MkdirTemp("", "kwalk-ext3-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	img := filepath.Join(dir, "ext3.img")
	out, err := exec.Command("mke2fs", "-q", "-F", "-t", "ext3", "-b", "1024", "-N", "128", img, "4096").CombinedOutput()
	if err != nil {
		return nil, fmt.Errorf("mke2fs -t ext3: %v: %s (install e2fsprogs)", err, bytes.TrimSpace(out))
	}
	return os.ReadFile(img)
}
