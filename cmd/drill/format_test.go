package main

import (
	"slices"
	"testing"

	"github.com/drillhq/drill/reports"
)

func TestParseFormats(t *testing.T) {
	all := reports.FileFormats()
	for _, tt := range []struct {
		in   string
		want []string
		ok   bool
	}{
		{"all", all, true},
		{"none", nil, true},
		{"", nil, true},
		{"junit", []string{"junit"}, true},
		{"markdown, junit", []string{"markdown", "junit"}, true},
		{"json", nil, false}, // report.json is always written; it is not a file format
		{"pdf", nil, false},
		{"junit,,markdown", nil, false},
	} {
		got, ok := parseFormats(tt.in)
		if ok != tt.ok || !slices.Equal(got, tt.want) {
			t.Errorf("parseFormats(%q) = %v, %v; want %v, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}
