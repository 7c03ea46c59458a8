package repl

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"strings"

	"github.com/kwalk/kwalk/walkers/crash"
)

// sys -i, -t and config.

// runSysSub runs the sub-views of sys; done is false for plain sys.
func runSysSub(c *Call) (Result, bool, error) {
	n := 0
	for _, f := range []string{"i", "t"} {
		if c.Bool(f) {
			n++
		}
	}
	if len(c.Args) > 0 {
		if len(c.Args) != 1 || c.Args[0] != "config" {
			return nil, true, UsageErrorf("usage: %s", c.cmd.Usage)
		}
		n++
	}
	switch {
	case n > 1:
		return nil, true, UsageErrorf("sys: -i, -t and config exclude each other")
	case c.Bool("t"):
		t, err := crash.KernelTaint(c.Prog)
		if err != nil {
			return nil, true, err
		}
		return SysTaint(t), true, nil
	case c.Bool("i"):
		r, err := readDMI(c)
		return r, true, err
	case n == 1:
		r, err := readIKConfig(c)
		return r, true, err
	}
	return nil, false, nil
}

// SysTaint is the result of sys -t.
type SysTaint crash.Taint

// WriteText implements Result: crash's "TAINTED_MASK: hex  letters", then
// each flag.
func (t SysTaint) WriteText(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "TAINTED_MASK: %x  %s\n", t.Mask, t.Letters)
	for _, f := range t.Flags {
		fmt.Fprintf(&b, "  %2d  %s  TAINT_%s\n", f.Bit, f.Letter, f.Name)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// SysDMI is the result of sys -i.
type SysDMI struct {
	DMI []DMIString `json:"dmi"`
}

// DMIString is one identification string.
type DMIString struct {
	Name  string `json:"name"` // the enum dmi_field name without DMI_: "SYS_VENDOR"
	Value string `json:"value"`
}

// dmiFields is enum dmi_field (include/linux/mod_devicetable.h), for
// kernels whose types lack it.
var dmiFields = []string{"NONE", "BIOS_VENDOR", "BIOS_VERSION", "BIOS_DATE", "BIOS_RELEASE", "EC_FIRMWARE_RELEASE",
	"SYS_VENDOR", "PRODUCT_NAME", "PRODUCT_VERSION", "PRODUCT_SERIAL", "PRODUCT_UUID", "PRODUCT_SKU", "PRODUCT_FAMILY",
	"BOARD_VENDOR", "BOARD_NAME", "BOARD_VERSION", "BOARD_SERIAL", "BOARD_ASSET_TAG",
	"CHASSIS_VENDOR", "CHASSIS_TYPE", "CHASSIS_VERSION", "CHASSIS_SERIAL", "CHASSIS_ASSET_TAG"}

// readDMI reads dmi_ident[DMI_STRING_MAX] (drivers/firmware/dmi_scan.c),
// named by the dump's enum dmi_field when its types have it.
func readDMI(c *Call) (SysDMI, error) {
	p := c.Prog
	addr, err := p.Symbol("dmi_ident")
	if err != nil {
		return SysDMI{}, fmt.Errorf("-i: %w (a kernel without CONFIG_DMI?)", err)
	}
	names := dmiFields
	if et, err := p.Type("enum dmi_field"); err == nil {
		if r := et.Resolve(); r != nil && len(r.Enumerators) > 0 {
			byVal := map[int64]string{}
			maxV := int64(0)
			for _, e := range r.Enumerators {
				if e.Name == "DMI_STRING_MAX" || e.Name == "DMI_OEM_STRING" {
					continue
				}
				byVal[int64(e.Value)] = strings.TrimPrefix(e.Name, "DMI_")
				maxV = max(maxV, int64(e.Value))
			}
			if maxV < 64 {
				names = make([]string, maxV+1)
				for i := range names {
					names[i] = byVal[int64(i)]
				}
			}
		}
	}
	res := SysDMI{DMI: []DMIString{}}
	for i, name := range names {
		if i == 0 || name == "" {
			continue
		}
		ptr, err := p.ReadU64(addr + 8*uint64(i))
		if err != nil {
			return res, fmt.Errorf("-i: dmi_ident[%d] at %#x: %w", i, addr+8*uint64(i), err)
		}
		if ptr == 0 {
			continue // the firmware gave no such string
		}
		v, err := p.ReadString(ptr, 256)
		if err != nil {
			v = fmt.Sprintf("(unreadable at %#x)", ptr)
		}
		res.DMI = append(res.DMI, DMIString{Name: name, Value: v})
	}
	return res, nil
}

// WriteText implements Result.
func (d SysDMI) WriteText(w io.Writer) error {
	var b strings.Builder
	if len(d.DMI) == 0 {
		b.WriteString("(no DMI strings: the firmware gave none)\n")
	}
	for _, s := range d.DMI {
		if s.Value == "" {
			continue
		}
		fmt.Fprintf(&b, "%19s: %s\n", s.Name, s.Value)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// SysConfig is the result of sys config.
type SysConfig struct {
	Config []string `json:"config"`
}

// WriteText implements Result.
func (s SysConfig) WriteText(w io.Writer) error {
	_, err := io.WriteString(w, strings.Join(s.Config, "\n")+"\n")
	return err
}

// maxIKConfig bounds the embedded config (a few hundred KB compressed is
// already large; the text is ~250 KB).
const maxIKConfig = 4 << 20

// readIKConfig reads the gzip'd config between kernel_config_data and
// kernel_config_data_end (kernel/configs.c; the data starts with the
// "IKCFG_ST" marker and ends with "IKCFG_ED").
func readIKConfig(c *Call) (SysConfig, error) {
	p := c.Prog
	start, err := p.Symbol("kernel_config_data")
	if err != nil {
		return SysConfig{}, fmt.Errorf("config: this kernel was built without CONFIG_IKCONFIG (no kernel_config_data symbol), so the dump holds no copy of its configuration; the kernel package's /boot/config-RELEASE has it")
	}
	end, err := p.Symbol("kernel_config_data_end")
	if err != nil || end <= start || end-start > maxIKConfig {
		end = start + 512<<10 // the gzip stream ends itself
	}
	buf := make([]byte, end-start)
	if err := p.Mem.ReadVirt(buf, start); err != nil {
		return SysConfig{}, fmt.Errorf("config: kernel_config_data at %#x: %w", start, err)
	}
	buf = bytes.TrimPrefix(buf, []byte("IKCFG_ST"))
	zr, err := gzip.NewReader(bytes.NewReader(buf))
	if err != nil {
		return SysConfig{}, fmt.Errorf("config: kernel_config_data at %#x is not gzip: %w", start, err)
	}
	text, err := io.ReadAll(io.LimitReader(zr, maxIKConfig))
	if err != nil && len(text) == 0 {
		return SysConfig{}, fmt.Errorf("config: decompressing kernel_config_data: %w", err)
	}
	return SysConfig{Config: strings.Split(strings.TrimRight(string(text), "\n"), "\n")}, nil
}
