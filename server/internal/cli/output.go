package cli

import (
	"encoding/json"
	"fmt"
	"io"
)

func printJSON(w io.Writer, v any) int {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		fmt.Fprintf(w, "pdp: %v\n", err)
		return ExitError
	}
	return ExitOK
}
