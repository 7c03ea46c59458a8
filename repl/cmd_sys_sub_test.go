package repl

import (
	"bytes"
	"compress/gzip"
	"context"
	"strings"
	"testing"

	"github.com/kwalk/kwalk/symbols"
	"github.com/kwalk/kwalk/symbols/symtest"
)

// TestSysSubViews runs sys -t, -i and config on a synthetic kernel with a
// taint mask, the taint_flags table, dmi_ident and an embedded config.
func TestSysSubViews(t *testing.T) {
	for _, withConfig := range []bool{true, false} {
		k := symtest.NewKernel()
		ty := k.Types
		ty.Add(symtest.Layout("taint_flag", symtest.M("c_true", k.Char), symtest.M("c_false", k.Char), symtest.M("module", k.U8)))
		mask := k.Alloc(8)
		k.Mem.WriteU64(mask, 1<<12|1<<13|1<<9) // O E W
		k.Syms.Add("tainted_mask", mask, 8, 'd')
		flags := k.Alloc(3 * 20)
		for i, c := range "PFSRMBUDAWCIOELKXTNJ" {
			k.Mem.Write(flags+3*uint64(i), []byte{byte(c), ' ', 0})
		}
		k.Syms.Add("taint_flags", flags, 60, 'r')
		ty.Add(&symbols.Type{Kind: symbols.KindEnum, Name: "dmi_field", Size: 4, Enumerators: []symbols.Enumerator{
			{Name: "DMI_NONE", Value: 0}, {Name: "DMI_BIOS_VENDOR", Value: 1}, {Name: "DMI_SYS_VENDOR", Value: 2}, {Name: "DMI_STRING_MAX", Value: 3}}})
		ident := k.Alloc(8 * 3)
		str := k.Alloc(16)
		k.Mem.Write(str, []byte("SeaBIOS\x00"))
		k.Mem.WriteU64(ident+8, str)
		k.Syms.Add("dmi_ident", ident, 24, 'd')
		if withConfig {
			var gz bytes.Buffer
			zw := gzip.NewWriter(&gz)
			zw.Write([]byte("CONFIG_X86_64=y\n# CONFIG_IKHEADERS is not set\n"))
			zw.Close()
			data := k.Alloc(uint64(gz.Len()) + 16)
			k.Mem.Write(data, gz.Bytes())
			k.Syms.Add("kernel_config_data", data, uint64(gz.Len()), 'r')
			k.Syms.Add("kernel_config_data_end", data+uint64(gz.Len()), 0, 'r')
		}
		var out, errb bytes.Buffer
		s := NewSession(k.Program(), NewDefaultRegistry(), &out, &errb)
		for _, tc := range []struct {
			line   string
			want   []string
			status int
		}{
			{"sys -t", []string{"TAINTED_MASK: 3200  WOE\n", "  13  E  TAINT_UNSIGNED_MODULE\n"}, ExitOK},
			{"sys -t --json", []string{`"mask":12800,"letters":"WOE"`, `{"bit":12,"letter":"O","name":"OOT_MODULE"}`}, ExitOK},
			{"sys -i", []string{"BIOS_VENDOR: SeaBIOS\n"}, ExitOK},
			{"sys -i --json", []string{`{"dmi":[{"name":"BIOS_VENDOR","value":"SeaBIOS"}]}`}, ExitOK},
			{"sys -i -t", nil, ExitUsage},
			{"sys bogus", nil, ExitUsage},
		} {
			out.Reset()
			errb.Reset()
			if st := s.Exec(context.Background(), tc.line); st != tc.status {
				t.Errorf("%s: status %d, want %d: %s", tc.line, st, tc.status, errb.String())
				continue
			}
			for _, w := range tc.want {
				if !strings.Contains(out.String(), w) {
					t.Errorf("%s: %q missing from %q", tc.line, w, out.String())
				}
			}
		}
		out.Reset()
		errb.Reset()
		st := s.Exec(context.Background(), "sys config")
		switch {
		case withConfig && (st != ExitOK || out.String() != "CONFIG_X86_64=y\n# CONFIG_IKHEADERS is not set\n"):
			t.Errorf("sys config: status %d: %q %s", st, out.String(), errb.String())
		case !withConfig && (st != ExitFailed || !strings.Contains(errb.String(), "CONFIG_IKCONFIG")):
			t.Errorf("sys config without IKCONFIG: status %d: %s", st, errb.String())
		}
	}
}
