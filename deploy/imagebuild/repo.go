package imagebuild

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Service is one entry of the service registry (tilt/services.json), the one list of Parley's
// services and their ports that the dev stack and the Tiltfile read too.
type Service struct {
	Name string `json:"name"`
	Port int    `json:"port"`
}

// Services reads the registry of the repository at root.
func Services(root string) ([]Service, error) {
	b, err := os.ReadFile(filepath.Join(root, "tilt", "services.json"))
	if err != nil {
		return nil, fmt.Errorf("service registry: %w", err)
	}
	var reg struct {
		Services []Service `json:"services"`
	}
	if err := json.Unmarshal(b, &reg); err != nil {
		return nil, fmt.Errorf("service registry: %w", err)
	}
	return reg.Services, nil
}

// Commit is what the images record of the source: its revision and its time.
type Commit struct {
	Revision string
	Time     time.Time
}

// dirtyPaths are what an image is made of: the services' sources and what they import, the web
// app, the registry's ports and the builder itself.
var dirtyPaths = []string{"services", "platform", "contracts", "web", "tilt/services.json",
	"deploy/imagebuild", "deploy/go.mod", "deploy/go.sum"}

// HeadCommit is the repository's HEAD. A tree whose files of dirtyPaths differ from HEAD, or hold
// a file git does not track and does not ignore (a new source file is built in too), gets
// "-dirty" after the revision: its images are not that commit's. SOURCE_DATE_EPOCH, when
// set, replaces the commit's time (the reproducible-builds convention).
func HeadCommit(ctx context.Context, root string) (Commit, error) {
	git := func(args ...string) (string, error) {
		cmd := exec.CommandContext(ctx, "git", args...)
		cmd.Dir = root
		out, err := cmd.Output()
		if err != nil {
			return "", fmt.Errorf("git %s: %w", strings.Join(args, " "), err)
		}
		return strings.TrimSpace(string(out)), nil
	}
	rev, err := git("rev-parse", "HEAD")
	if err != nil {
		return Commit{}, err
	}
	dirty, err := git(append([]string{"status", "--porcelain", "--untracked-files=normal", "--"}, dirtyPaths...)...)
	if err != nil {
		return Commit{}, err
	}
	if dirty != "" {
		rev += "-dirty"
	}
	epoch := os.Getenv("SOURCE_DATE_EPOCH")
	if epoch == "" {
		if epoch, err = git("log", "-1", "--format=%ct", "HEAD"); err != nil {
			return Commit{}, err
		}
	}
	secs, err := strconv.ParseInt(epoch, 10, 64)
	if err != nil {
		return Commit{}, fmt.Errorf("commit time %q: %w", epoch, err)
	}
	return Commit{Revision: rev, Time: time.Unix(secs, 0).UTC()}, nil
}
