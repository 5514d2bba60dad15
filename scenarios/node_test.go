package scenarios

import (
	"testing"

	"go.yaml.in/yaml/v3"
)

type yamlNode = yaml.Node

// parseNode parses a YAML snippet into its root node.
func parseNode(t *testing.T, s string) *yaml.Node {
	t.Helper()
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte(s), &doc); err != nil {
		t.Fatal(err)
	}
	return doc.Content[0]
}
