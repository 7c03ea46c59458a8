package repl

import (
	"encoding/json"
	"fmt"
	"strconv"
)

// Hex is an address or a bit pattern: it renders as "0xffff..." in text and
// as that string in JSON (JSON numbers lose precision above 2^53).
type Hex uint64

func (h Hex) String() string { return fmt.Sprintf("%#x", uint64(h)) }

// MarshalJSON implements json.Marshaler.
func (h Hex) MarshalJSON() ([]byte, error) {
	return []byte(`"` + h.String() + `"`), nil
}

// UnmarshalJSON implements json.Unmarshaler.
func (h *Hex) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	v, err := strconv.ParseUint(s, 0, 64)
	if err != nil {
		return fmt.Errorf("hex value %q: %w", s, err)
	}
	*h = Hex(v)
	return nil
}
