package truth

import (
	"strings"
	"testing"
)

func TestParseLive(t *testing.T) {
	const record = "KWALK-TRUTH-BEGIN\r\nmeta release=6.1.0\r\nKWALK-TRUTH-END\r\n"
	tests := []struct {
		name    string
		after   string
		want    map[string]LiveRun
		notes   int
		wantErr string
	}{
		{name: "none", after: "KWALK-SCENARIO-READY\n"},
		{
			name: "runs",
			after: "KWALK-LIVE-NOTE present /proc/kcore\r\n" +
				"KWALK-LIVE-BEGIN sys\r\n   RELEASE: 6.1.0\r\n\r\nKWALK-LIVE-END sys rc=0 ms=12\r\n" +
				"KWALK-LIVE-BEGIN deadlock --json\r\n{\"schema\": 1}\r\nKWALK-LIVE-END deadlock --json rc=2 ms=700\r\n" +
				"KWALK-SCENARIO-READY\r\n",
			want: map[string]LiveRun{
				"sys":             {Args: "sys", Output: "   RELEASE: 6.1.0\n\n", RC: 0, Millis: 12},
				"deadlock --json": {Args: "deadlock --json", Output: "{\"schema\": 1}\n", RC: 2, Millis: 700},
			},
			notes: 1,
		},
		{
			name:  "killed, no ms",
			after: "KWALK-LIVE-BEGIN ps\nx\nKWALK-LIVE-END ps rc=-1\n",
			want:  map[string]LiveRun{"ps": {Args: "ps", Output: "x\n", RC: -1, Millis: -1}},
		},
		{name: "nested begin", after: "KWALK-LIVE-BEGIN ps\nKWALK-LIVE-BEGIN sys\n", wantErr: "inside the run"},
		{name: "wrong end", after: "KWALK-LIVE-BEGIN ps\nKWALK-LIVE-END sys rc=0\n", wantErr: "closes the run"},
		{name: "bad rc", after: "KWALK-LIVE-BEGIN ps\nKWALK-LIVE-END ps rc=x\n", wantErr: "bad"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec, err := Parse(strings.NewReader(record + tt.after))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(rec.Live) != len(tt.want) {
				t.Fatalf("live runs %+v, want %+v", rec.Live, tt.want)
			}
			for k, w := range tt.want {
				if g := rec.Live[k]; g != w {
					t.Errorf("run %q: %+v, want %+v", k, g, w)
				}
			}
			if len(rec.LiveNotes) != tt.notes {
				t.Errorf("notes %q, want %d", rec.LiveNotes, tt.notes)
			}
		})
	}
}

func TestParseLiveBounded(t *testing.T) {
	line := strings.Repeat("x", 1<<16) + "\n"
	var b strings.Builder
	b.WriteString("KWALK-TRUTH-BEGIN\nKWALK-TRUTH-END\nKWALK-LIVE-BEGIN ps\n")
	for b.Len() < maxLiveOutput+len(line) {
		b.WriteString(line)
	}
	if _, err := Parse(strings.NewReader(b.String())); err == nil || !strings.Contains(err.Error(), "output over") {
		t.Fatalf("err %v, want an output bound", err)
	}
}
