package repl

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"testing"

	"github.com/kwalk/kwalk/testdata"
	"github.com/kwalk/kwalk/walkers/walktest"
)

// TestDevRealDumps compares dev with the guest's /proc/devices (every
// character and block major, in order), and dev -d with /proc/partitions
// (every disk and partition with its size) and /proc/diskstats (the I/O
// in flight of each disk: the record is taken while the guest's hangs are
// in place, so the in-flight counts are those of the dump).
func TestDevRealDumps(t *testing.T) {
	for _, d := range testdata.GeneratedDumps(t) {
		t.Run(d.Name, func(t *testing.T) {
			devices, ok := d.Truth.Files["/proc/devices"]
			if !ok {
				t.Skip("the record has no /proc/devices")
			}
			p := walktest.OpenReal(t, d)
			needDataSymbols(t, p, "chrdevs", "major_names")
			var out, errb bytes.Buffer
			s := NewSession(p, NewDefaultRegistry(), &out, &errb)
			run := func(line string, v any) {
				t.Helper()
				out.Reset()
				errb.Reset()
				if st := s.Exec(context.Background(), line+" --json"); st != ExitOK {
					t.Fatalf("%s: status %d: %s %s", line, st, out.String(), errb.String())
				}
				if err := json.Unmarshal(out.Bytes(), v); err != nil {
					t.Fatalf("%s: %v", line, err)
				}
				// The document is exactly the Go type of repl/schema.md.
				dec := json.NewDecoder(bytes.NewReader(out.Bytes()))
				dec.DisallowUnknownFields()
				var doc DevResult
				if err := dec.Decode(&doc); err != nil {
					t.Errorf("%s: not a DevResult: %v", line, err)
				}
			}
			var dev struct {
				CharDevs []struct {
					Major int    `json:"major"`
					Name  string `json:"name"`
				} `json:"chrdevs"`
				BlockDevs []struct {
					Major int    `json:"major"`
					Name  string `json:"name"`
				} `json:"blkdevs"`
				Warnings []string `json:"warnings"`
			}
			run("dev", &dev)
			var got []string
			got = append(got, "Character devices:")
			for _, m := range dev.CharDevs {
				got = append(got, fmt.Sprintf("%3d %s", m.Major, m.Name))
			}
			got = append(got, "", "Block devices:")
			for _, m := range dev.BlockDevs {
				got = append(got, fmt.Sprintf("%3d %s", m.Major, m.Name))
			}
			if want := strings.Join(devices, "\n"); strings.Join(got, "\n") != strings.TrimRight(want, "\n") {
				t.Errorf("dev:\n%s\n/proc/devices:\n%s\nwarnings %v", strings.Join(got, "\n"), want, dev.Warnings)
			}

			var disks struct {
				Disks []struct {
					Disk struct {
						Name       string `json:"name"`
						Major      int    `json:"major"`
						FirstMinor int    `json:"first_minor"`
						DM         *struct {
							Name      string `json:"name"`
							Suspended bool   `json:"suspended"`
						} `json:"dm"`
					} `json:"disk"`
					Sectors    uint64 `json:"sectors"`
					Partitions []struct {
						Name    string `json:"name"`
						Major   int    `json:"major"`
						Minor   int    `json:"minor"`
						Sectors uint64 `json:"sectors"`
					} `json:"partitions"`
					Total int64 `json:"total"`
				} `json:"disks"`
				Warnings []string `json:"warnings"`
			}
			run("dev -d", &disks)
			var parts []string
			inflight := map[string]int64{}
			suspended := 0
			for _, dk := range disks.Disks {
				// block/genhd.c show_partition: disks and partitions
				// with a capacity, #blocks in KiB.
				if dk.Sectors > 0 {
					parts = append(parts, fmt.Sprintf("%d %d %d %s", dk.Disk.Major, dk.Disk.FirstMinor, dk.Sectors/2, dk.Disk.Name))
				}
				for _, pt := range dk.Partitions {
					if pt.Sectors > 0 {
						parts = append(parts, fmt.Sprintf("%d %d %d %s", pt.Major, pt.Minor, pt.Sectors/2, pt.Name))
					}
				}
				inflight[dk.Disk.Name] = dk.Total
				if dk.Disk.DM != nil && dk.Disk.DM.Suspended {
					suspended++
				}
			}
			// The dmsuspend scenario leaves a device-mapper device suspended.
			if d.Has("dmsuspend") && suspended == 0 {
				t.Errorf("dev -d: no suspended device-mapper device, the guest staged dmsuspend")
			}
			var want []string
			for _, l := range d.Truth.Files["/proc/partitions"] {
				f := strings.Fields(l)
				if len(f) == 4 && f[0] != "major" {
					want = append(want, strings.Join(f, " "))
				}
			}
			if strings.Join(parts, "\n") != strings.Join(want, "\n") {
				t.Errorf("dev -d partitions:\n%s\n/proc/partitions:\n%s\nwarnings %v", strings.Join(parts, "\n"), strings.Join(want, "\n"), disks.Warnings)
			}
			// block/genhd.c diskstats_show: the 12th column (9th
			// statistic) is the I/O in flight.
			checked := 0
			for _, l := range d.Truth.Files["/proc/diskstats"] {
				f := strings.Fields(l)
				if len(f) < 12 {
					continue
				}
				n, err := strconv.ParseInt(f[11], 10, 64)
				g, ok := inflight[f[2]]
				if err != nil || !ok {
					continue // a partition line
				}
				checked++
				if g != n {
					t.Errorf("%s: %d in flight, /proc/diskstats says %d", f[2], g, n)
				}
			}
			t.Logf("%d disks, %d partition lines, %d diskstats in-flight counts compared", len(disks.Disks), len(want), checked)
		})
	}
}
