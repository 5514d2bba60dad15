package harness

import "os"

func fileExists(p string) bool { _, err := os.Stat(p); return err == nil }

func firstNonEmpty(ss ...string) string {
	for _, s := range ss {
		if s != "" {
			return s
		}
	}
	return ""
}
