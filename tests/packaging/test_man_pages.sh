#!/usr/bin/env bash
# The man pages (docs/man) render without a single warning, and document what the code has:
#  - groff -man -ww -z -Tutf8 and mandoc -Tlint print nothing;
#  - MANWIDTH=80 man -l renders them with nothing on stderr;
#  - nicsync.8 has an entry for every option module/app/command_line.cpp accepts and every command;
#  - nicsync.yaml.5 names every key of config/nicsync.yaml (which documents every key).
# Usage: test_man_pages.sh MAN_DIR COMMAND_LINE_CPP NICSYNC_YAML
set -u
man_dir=$1
command_line_cpp=$2
settings=$3
failures=0
fail() {
    echo "FAIL: $*"
    failures=$((failures + 1))
}

for tool in groff mandoc man; do
    command -v "$tool" >/dev/null || { echo "FAIL: $tool is missing (bash packaging/install-build-deps)"; exit 1; }
done

pages=("$man_dir/nicsync.8" "$man_dir/nicsync.yaml.5")
for page in "${pages[@]}"; do
    [[ -f $page ]] || { fail "$page is missing"; continue; }
    out=$(groff -man -ww -z -Tutf8 "$page" 2>&1)
    [[ -z $out ]] && echo "ok:   groff -ww: $page" || fail "groff -ww $page:"$'\n'"$out"
    out=$(mandoc -Tlint "$page" 2>&1)
    [[ -z $out ]] && echo "ok:   mandoc -Tlint: $page" || fail "mandoc -Tlint $page:"$'\n'"$out"
    out=$(MANWIDTH=80 MAN_KEEP_FORMATTING= man -l "$page" 2>&1 >/dev/null)
    [[ -z $out ]] && echo "ok:   man -l: $page" || fail "man -l $page:"$'\n'"$out"
done

# Options and commands: as rendered text, so that roff escapes do not matter.
rendered8=$(MANWIDTH=200 man -l "$man_dir/nicsync.8" 2>/dev/null | col -b)
options=$(grep -o 'arg == "-[-a-z]*"' "$command_line_cpp" | sed 's/arg == "\(.*\)"/\1/' | sort -u)
[[ -n $options ]] || fail "no options found in $command_line_cpp"
for option in $options; do
    # An entry of its own in OPTIONS: "       --root DIR", "       --live", "       -h, --help".
    grep -Eq -- "^       (-h, )?$option(,| |\$)" <<<"$rendered8" || fail "nicsync.8 has no entry for $option"
done
for command in apply plan show "config check" help; do
    grep -q "^       $command" <<<"$rendered8" || fail "nicsync.8 has no entry for the command \"$command\""
done
echo "ok:   nicsync.8 has an entry for each option: $(echo $options)"

# Settings keys: config/nicsync.yaml shows each key commented out ("#key:" or "  #key:").
rendered5=$(MANWIDTH=200 man -l "$man_dir/nicsync.yaml.5" 2>/dev/null | col -b)
keys=()
parents=()
while IFS= read -r line; do
    [[ $line =~ ^([ ]*)#([a-z_0-9]+):(.*)$ ]] || continue
    indent=${#BASH_REMATCH[1]}
    key=${BASH_REMATCH[2]}
    level=$((indent / 2))
    parents[level]=$key
    path=$key
    for ((l = level - 1; l >= 0; l--)); do path=${parents[l]}.$path; done
    keys+=("$path")
done <"$settings"
((${#keys[@]} >= 20)) || fail "found only ${#keys[@]} keys in $settings"
for key in "${keys[@]}"; do
    case $key in
        interfaces | metadata | oracle | oracle.api | aws) continue ;;  # sections
    esac
    grep -Eq "^       $key \(" <<<"$rendered5" || fail "nicsync.yaml.5 has no entry for $key"
done
echo "ok:   nicsync.yaml.5 has an entry for each key of $(basename "$settings") (${#keys[@]} keys and sections)"

((failures == 0)) || { echo "$failures failure(s)"; exit 1; }
echo "man pages: all checks passed"
