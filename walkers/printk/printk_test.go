package printk

import (
	"strings"
	"testing"

	"github.com/kwalk/kwalk/walkers/walktest"
)

func TestLogSynthetic(t *testing.T) {
	l := walktest.NewSynthLog()
	l.SetRange(4, 7)
	l.Record(4, DescFinalized, 40, 56, 10, 6, "first")           // regular block
	l.Record(5, DescFinalized, 56, 64+24, 11, 4, "wrapped-text") // wraps to the start
	l.Record(6, DescCommitted, 1, 1, 12, 3, "")                  // data-less
	l.Record(7, DescFinalized, 0x7777, 0x8888, 14, 6, "bad")     // illegal lpos
	p := l.Program()
	recs, err := Log(p)
	if err == nil || !strings.Contains(err.Error(), "1 records could not be decoded") {
		t.Errorf("error %v, want one undecodable record", err)
	}
	var got []string
	for _, r := range recs {
		got = append(got, r.Line())
	}
	want := []string{"[    1.234567] first", "[    1.234567] wrapped-text", "[    1.234567] "}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("records %q, want %q", got, want)
	}
	if len(recs) == 3 && (recs[0].Level != 6 || recs[1].Level != 4 || recs[0].Flags != 2 || recs[1].Seq != 11) {
		t.Errorf("decoded fields: %+v", recs)
	}
	// A descriptor still being written (reserved) is skipped silently.
	l.Record(7, 0, 64+24, 64+40, 13, 6, "writing")
	if recs, err = Log(p); err != nil || len(recs) != 3 {
		t.Errorf("with a reserved descriptor: %d records, %v", len(recs), err)
	}
	// An id that does not match its slot (a reused descriptor) is skipped.
	l.Mem.WriteU64(l.Descs+0*l.Size("struct prb_desc"), DescFinalized<<62|99)
	if recs, _ = Log(p); len(recs) != 2 {
		t.Errorf("with a stale descriptor: %d records", len(recs))
	}
	// A lying head/tail distance is refused, not looped over.
	l.SetRange(0, 1<<40)
	if _, err := Log(p); err == nil {
		t.Errorf("head-tail beyond the ring: no error")
	}
	// Multi-line text splits like the console.
	r := LogRecord{TimeNs: 3_174_874_000, Text: "a\nb"}
	if got := r.Lines(); len(got) != 2 || got[1] != "[    3.174874] b" {
		t.Errorf("Lines = %q", got)
	}
}
