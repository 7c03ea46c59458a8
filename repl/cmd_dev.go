package repl

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/kwalk/kwalk/walkers/block"
)

func registerDev(r *Registry) {
	r.Add(&Command{
		Name:    "dev",
		Summary: "character and block device majors; block devices with their queues and in-flight I/O",
		Usage:   "dev [-d | -D | -i]",
		Help: `Without flags, lists the registered character device regions (major,
name, struct cdev and its file operations) and block majors (major, name,
and the first disk of that major with its block_device_operations), as
/proc/devices does, like crash's dev.

-d lists the disks of the block class, like crash's dev -d: major, gendisk,
name, request queue, the I/O in flight (total, read, write), and the
driver (the blk-mq operations q->mq_ops of a blk-mq queue, else the
disk's fops). For a blk-mq queue it shows the hardware contexts (tags in
use, requests on the dispatch list, stopped) and each in-flight request:
the requests the driver holds, found through the driver tags (the
tag bitmap's allocated bits, tags->rqs[tag], state MQ_RQ_IN_FLIGHT),
with op, sector, size and age (the dump's monotonic clock minus the
request's start_time_ns). Queue state: frozen (mq_freeze_depth), quiesced,
dying. For device-mapper disks: the dm name, whether it is suspended, its
targets and the bios deferred while suspended. Bio-based disks count
I/O in flight from their per-CPU statistics. -D is -d for the disks with
I/O in flight only.

-i lists the I/O port and I/O memory resources, like crash's dev -i and
/proc/ioports and /proc/iomem: the trees under ioport_resource and
iomem_resource (kernel/resource.c), each struct resource with its range
(inclusive) and name, children indented under their parent.

JSON: {"chrdevs":[{"major","name","base_minor","minors","cdev","ops"}],
"blkdevs":[{"major","name","disk","ops"}]} without flags; with -d/-D
{"disks":[{"disk" (as in deadlock: addr, name, major, first_minor, queue,
mq, ops, in_flight, dm),"partitions":[{"device","name","major","minor","sectors"}],
"sectors","queue":{"addr","mq","mq_ops","elevator","flags","flag_names",
"freeze_depth","frozen","quiesced","dying","hw_queues":[{"addr","num",
"state","stopped","tags","sched_tags","nr_tags","busy","dispatch"}],
"in_flight":[{"addr","tag","hw_queue","op","cmd_flags","sector","bytes",
"start_time_ns","age_ns" (-1: unknown),"state"}]},"total","read","write",
"driver"}],"warnings"}; with -i {"ioports":[{"addr","start","end","name",
"flags","depth","errors"}],"iomem":[...],"warnings"}. Addresses are hex strings, except in "disk",
which is the block layer's description shared with deadlock.`,
		Flags: []Flag{
			{Name: "d", Help: "block devices, their queues and in-flight requests"},
			{Name: "D", Help: "as -d, only the disks with I/O in flight"},
			{Name: "i", Help: "I/O port and I/O memory resources (/proc/ioports, /proc/iomem)"},
		},
		Examples: []string{"dev", "dev -d", "dev -D --json", "dev -i"},
		Run:      runDev,
	})
}

// DevResult is dev's JSON document (see its help).
type DevResult struct {
	CharDevs  []DevChar    `json:"chrdevs,omitempty"`
	BlockDevs []BlockMajor `json:"blkdevs,omitempty"`
	Disks     []DevDisk    `json:"disks,omitempty"`
	// IOPorts and IOMem (-i) are the resource trees, root first.
	IOPorts   []DevResource `json:"ioports,omitempty"`
	IOMem     []DevResource `json:"iomem,omitempty"`
	Warnings  []string      `json:"warnings,omitempty"`
	disks     bool
	resources bool
}

// DevChar is a character device region.
type DevChar struct {
	Major     int    `json:"major"`
	Name      string `json:"name"`
	BaseMinor int    `json:"base_minor"`
	Minors    int    `json:"minors"`
	CDev      Hex    `json:"cdev,omitempty"`
	Ops       string `json:"ops,omitempty"`
}

// BlockMajor is a block major with the first disk of that major.
type BlockMajor struct {
	Major int    `json:"major"`
	Name  string `json:"name"`
	Disk  Hex    `json:"disk,omitempty"`
	Ops   string `json:"ops,omitempty"`
}

// DevDisk is one disk of dev -d.
type DevDisk struct {
	Disk       *block.Disk `json:"disk"`
	Sectors    uint64      `json:"sectors"`
	Partitions []DevPart   `json:"partitions,omitempty"`
	Queue      *DevQueue   `json:"queue,omitempty"`
	// Total, Read and Write count the I/O in flight: the in-flight
	// requests of a blk-mq queue (Read: REQ_OP_READ, Write: the others),
	// the per-CPU counts of a bio-based disk.
	Total  int64  `json:"total"`
	Read   int64  `json:"read"`
	Write  int64  `json:"write"`
	Driver string `json:"driver"`
}

// DevPart is a partition of a disk.
type DevPart struct {
	Device  Hex    `json:"device"`
	Name    string `json:"name"`
	Major   int    `json:"major"`
	Minor   int    `json:"minor"`
	Sectors uint64 `json:"sectors"`
}

// DevQueue is block.Queue with addresses as strings.
type DevQueue struct {
	Addr        Hex          `json:"addr"`
	MQ          bool         `json:"mq"`
	MQOps       string       `json:"mq_ops,omitempty"`
	Elevator    string       `json:"elevator,omitempty"`
	Flags       Hex          `json:"flags"`
	FlagNames   []string     `json:"flag_names,omitempty"`
	FreezeDepth int          `json:"freeze_depth"`
	Frozen      bool         `json:"frozen"`
	Quiesced    bool         `json:"quiesced"`
	Dying       bool         `json:"dying"`
	HWQueues    []DevHWQueue `json:"hw_queues,omitempty"`
	InFlight    []DevRequest `json:"in_flight,omitempty"`
}

// DevHWQueue is block.HWQueue with addresses as strings.
type DevHWQueue struct {
	Addr      Hex  `json:"addr"`
	Num       int  `json:"num"`
	State     Hex  `json:"state"`
	Stopped   bool `json:"stopped"`
	Tags      Hex  `json:"tags"`
	SchedTags Hex  `json:"sched_tags,omitempty"`
	NrTags    int  `json:"nr_tags"`
	Busy      int  `json:"busy"`
	Dispatch  int  `json:"dispatch"`
}

// DevRequest is block.Request with addresses as strings.
type DevRequest struct {
	Addr    Hex    `json:"addr"`
	Tag     int    `json:"tag"`
	HWQueue int    `json:"hw_queue"`
	Op      string `json:"op"`
	Flags   Hex    `json:"cmd_flags"`
	Sector  uint64 `json:"sector"`
	Bytes   uint64 `json:"bytes"`
	StartNS uint64 `json:"start_time_ns"`
	AgeNS   int64  `json:"age_ns"`
	State   string `json:"state"`
}

func devQueue(q *block.Queue) *DevQueue {
	d := &DevQueue{Addr: Hex(q.Addr), MQ: q.MQ, MQOps: q.MQOps, Elevator: q.Elevator, Flags: Hex(q.Flags),
		FlagNames: q.FlagNames, FreezeDepth: q.FreezeDepth, Frozen: q.Frozen, Quiesced: q.Quiesced, Dying: q.Dying}
	for _, h := range q.HWQueues {
		d.HWQueues = append(d.HWQueues, DevHWQueue{Addr: Hex(h.Addr), Num: h.Num, State: Hex(h.State), Stopped: h.Stopped,
			Tags: Hex(h.Tags), SchedTags: Hex(h.SchedTags), NrTags: h.NrTags, Busy: h.Busy, Dispatch: h.Dispatch})
	}
	for _, r := range q.InFlight {
		d.InFlight = append(d.InFlight, DevRequest{Addr: Hex(r.Addr), Tag: r.Tag, HWQueue: r.HWQueue, Op: r.Op,
			Flags: Hex(r.Flags), Sector: r.Sector, Bytes: r.Bytes, StartNS: r.StartNS, AgeNS: int64(r.Age), State: r.State})
	}
	return d
}

// ResultWarnings implements Warner.
func (r DevResult) ResultWarnings() []string { return r.Warnings }

// MarshalJSON writes the lists of the mode dev ran in, empty ones as [].
func (r DevResult) MarshalJSON() ([]byte, error) {
	if r.resources {
		return json.Marshal(struct {
			IOPorts  []DevResource `json:"ioports"`
			IOMem    []DevResource `json:"iomem"`
			Warnings []string      `json:"warnings,omitempty"`
		}{nonNil(r.IOPorts), nonNil(r.IOMem), r.Warnings})
	}
	if r.disks {
		return json.Marshal(struct {
			Disks    []DevDisk `json:"disks"`
			Warnings []string  `json:"warnings,omitempty"`
		}{nonNil(r.Disks), r.Warnings})
	}
	return json.Marshal(struct {
		CharDevs  []DevChar    `json:"chrdevs"`
		BlockDevs []BlockMajor `json:"blkdevs"`
		Warnings  []string     `json:"warnings,omitempty"`
	}{nonNil(r.CharDevs), nonNil(r.BlockDevs), r.Warnings})
}

// nonNil is s, or an empty slice for nil (JSON [] rather than null).
func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

func runDev(c *Call) (Result, error) {
	if err := c.NeedArgs(0, 0); err != nil {
		return nil, err
	}
	if c.Bool("i") {
		if c.Bool("d") || c.Bool("D") {
			return nil, UsageErrorf("dev: -i and -d/-D exclude each other")
		}
		return runDevResources(c) // cmd_dev_crash.go
	}
	res := DevResult{}
	warn := func(err error) {
		if err != nil {
			res.Warnings = append(res.Warnings, err.Error())
		}
	}
	if !c.Bool("d") && !c.Bool("D") {
		cm, err := block.CharMajors(c.Prog)
		warn(err)
		for _, m := range cm {
			res.CharDevs = append(res.CharDevs, DevChar{Major: m.Major, Name: m.Name, BaseMinor: m.BaseMinor,
				Minors: m.Minors, CDev: Hex(m.CDev), Ops: m.Ops})
		}
		bm, err := block.BlockMajors(c.Prog)
		warn(err)
		disks, err := block.Disks(c.Prog)
		warn(err)
		for _, m := range bm {
			b := BlockMajor{Major: m.Major, Name: m.Name}
			for _, d := range disks {
				if d.Major == m.Major {
					b.Disk, b.Ops = Hex(d.Addr), d.Ops
					break
				}
			}
			res.BlockDevs = append(res.BlockDevs, b)
		}
		if len(res.CharDevs) == 0 && len(res.BlockDevs) == 0 && len(res.Warnings) > 0 {
			return nil, fmt.Errorf("dev: %s", res.Warnings[0])
		}
		return res, nil
	}
	res.disks = true
	devs, err := block.BlockDevices(c.Prog)
	warn(err)
	if len(devs) == 0 && err != nil {
		return nil, fmt.Errorf("dev -d: %w", err)
	}
	for _, b := range devs {
		if err := c.Ctx.Err(); err != nil {
			return nil, err
		}
		if b.Partition {
			for i := range res.Disks {
				if uint64(res.Disks[i].Disk.Addr) == b.Disk {
					res.Disks[i].Partitions = append(res.Disks[i].Partitions,
						DevPart{Device: Hex(b.Device), Name: b.Name, Major: b.Major, Minor: b.Minor, Sectors: b.Sectors})
				}
			}
			continue
		}
		d, err := block.ReadDisk(c.Prog, b.Disk)
		if err != nil {
			warn(err)
			continue
		}
		dd := DevDisk{Disk: d, Sectors: b.Sectors, Driver: d.Ops}
		if d.Queue != 0 {
			q, err := block.ReadQueue(c.Prog, d.Queue, d.Addr)
			warn(err)
			if q != nil {
				for _, e := range q.Errors {
					warn(fmt.Errorf("%s: %s", d.Name, e))
				}
				dd.Queue = devQueue(q)
				if q.MQ && q.MQOps != "" {
					dd.Driver = q.MQOps
				}
				for _, r := range q.InFlight {
					if r.Op == "READ" {
						dd.Read++
					} else {
						dd.Write++
					}
				}
			}
		}
		if d.InFlight != nil && (dd.Queue == nil || !dd.Queue.MQ) {
			dd.Read, dd.Write = d.InFlight[0], d.InFlight[1]
		}
		dd.Total = dd.Read + dd.Write
		res.Disks = append(res.Disks, dd)
	}
	if c.Bool("D") {
		var busy []DevDisk
		for _, d := range res.Disks {
			if d.Total != 0 || (d.Disk.DM != nil && len(d.Disk.DM.Deferred) > 0) {
				busy = append(busy, d)
			}
		}
		res.Disks = busy
	}
	return res, nil
}

// WriteText implements Result: crash's dev and dev -d layouts.
func (r DevResult) WriteText(w io.Writer) error {
	if r.resources {
		return r.writeResources(w) // cmd_dev_crash.go
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	if !r.disks {
		fmt.Fprintln(tw, "CHRDEV\tNAME\tCDEV\tOPERATIONS")
		for _, m := range r.CharDevs {
			cdev := "(none)"
			if m.CDev != 0 {
				cdev = fmt.Sprintf("%x", uint64(m.CDev))
			}
			fmt.Fprintf(tw, "%4d\t%s\t%s\t%s\n", m.Major, m.Name, cdev, orNone(m.Ops))
		}
		fmt.Fprintln(tw, "\nBLKDEV\tNAME\tGENDISK\tOPERATIONS")
		for _, m := range r.BlockDevs {
			disk := "(none)"
			if m.Disk != 0 {
				disk = fmt.Sprintf("%x", uint64(m.Disk))
			}
			fmt.Fprintf(tw, "%4d\t%s\t%s\t%s\n", m.Major, m.Name, disk, orNone(m.Ops))
		}
		return tw.Flush()
	}
	fmt.Fprintln(tw, "MAJOR\tGENDISK\tNAME\tREQUEST_QUEUE\tTOTAL\tREAD\tWRITE\tDRIVER\tSTATE")
	for _, d := range r.Disks {
		q := "(none)"
		if d.Disk.Queue != 0 {
			q = fmt.Sprintf("%x", d.Disk.Queue)
		}
		fmt.Fprintf(tw, "%5d\t%x\t%s\t%s\t%d\t%d\t%d\t%s\t%s\n", d.Disk.Major, d.Disk.Addr, d.Disk.Name, q,
			d.Total, d.Read, d.Write, orNone(d.Driver), d.state())
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, d := range r.Disks {
		if err := d.writeDetail(w); err != nil {
			return err
		}
	}
	return nil
}

// state sums up the queue's and dm device's state: "frozen,quiesced".
func (d DevDisk) state() string {
	var s []string
	if q := d.Queue; q != nil {
		if q.Frozen {
			s = append(s, fmt.Sprintf("frozen(%d)", q.FreezeDepth))
		}
		if q.Quiesced {
			s = append(s, "quiesced")
		}
		if q.Dying {
			s = append(s, "dying")
		}
	}
	if dm := d.Disk.DM; dm != nil && dm.Suspended {
		s = append(s, "suspended")
	}
	if len(s) == 0 {
		return "-"
	}
	return strings.Join(s, ",")
}

// writeDetail writes a disk's hardware queues, in-flight requests and
// device-mapper table, when it has something to say.
func (d DevDisk) writeDetail(w io.Writer) error {
	var b strings.Builder
	if dm := d.Disk.DM; dm != nil {
		fmt.Fprintf(&b, "\n%s: device-mapper %q (%s)", d.Disk.Name, dm.Name, dm.Dev)
		if len(dm.FlagNames) > 0 {
			fmt.Fprintf(&b, " flags %s", strings.Join(dm.FlagNames, ","))
		}
		b.WriteString("\n")
		for _, t := range dm.Targets {
			fmt.Fprintf(&b, "  %d %d %s", t.Start, t.Len, t.Type)
			if t.Dev != "" {
				fmt.Fprintf(&b, " %s %d", t.Dev, t.Offset)
			}
			b.WriteString("\n")
		}
		if n := len(dm.Deferred); n > 0 {
			more := ""
			if dm.DeferredMore {
				more = "+"
			}
			fmt.Fprintf(&b, "  %d%s bios deferred while suspended\n", n, more)
		}
	}
	if q := d.Queue; q != nil && q.MQ && (len(q.InFlight) > 0 || q.Frozen || q.Quiesced || anyStopped(q)) {
		el := q.Elevator
		if el == "" {
			el = "none"
		}
		fmt.Fprintf(&b, "\n%s: %d hardware queues, scheduler %s\n", d.Disk.Name, len(q.HWQueues), el)
		for _, h := range q.HWQueues {
			stopped := ""
			if h.Stopped {
				stopped = " STOPPED"
			}
			fmt.Fprintf(&b, "  HCTX %d %x: tags %d/%d busy, %d on dispatch%s\n", h.Num, uint64(h.Addr), h.Busy, h.NrTags, h.Dispatch, stopped)
		}
		if len(q.InFlight) > 0 {
			tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "  REQUEST\tHCTX\tTAG\tOP\tSECTOR\tBYTES\tAGE")
			for _, r := range q.InFlight {
				age := "-"
				if r.AgeNS >= 0 {
					age = time.Duration(r.AgeNS).Round(time.Millisecond).String()
				}
				fmt.Fprintf(tw, "  %x\t%d\t%d\t%s\t%d\t%d\t%s\n", uint64(r.Addr), r.HWQueue, r.Tag, r.Op, r.Sector, r.Bytes, age)
			}
			tw.Flush()
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func anyStopped(q *DevQueue) bool {
	for _, h := range q.HWQueues {
		if h.Stopped {
			return true
		}
	}
	return false
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}
