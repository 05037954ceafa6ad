#!/usr/bin/env bash
# Tests config/bash-completion/nicsync: sources it, fills COMP_WORDS/COMP_CWORD as bash would,
# calls the completion function and compares COMPREPLY (sorted). Also checks that it offers
# exactly the options module/app/command_line.cpp accepts.
# Usage: test_bash_completion.sh COMPLETION_FILE COMMAND_LINE_CPP
set -u
completion=$1
command_line_cpp=$2
# shellcheck source=/dev/null
source "$completion" || { echo "FAIL: cannot source $completion"; exit 1; }
[[ $(complete -p nicsync 2>/dev/null) == "complete -F _nicsync nicsync" ]] ||
    { echo "FAIL: nicsync is not registered: $(complete -p nicsync 2>&1)"; exit 1; }

failures=0
# check "EXPECTED (space-separated, any order)" WORD... : the last WORD is the one completed.
check() {
    local expected=$1
    shift
    COMP_WORDS=("$@")
    COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
    COMP_LINE="$*"
    COMP_POINT=${#COMP_LINE}
    COMPREPLY=()
    _nicsync nicsync "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD - 1]}"
    local got want
    got=$(printf '%s\n' "${COMPREPLY[@]}" | sed '/^$/d' | sort | tr '\n' ' ')
    want=$(printf '%s\n' $expected | sed '/^$/d' | sort | tr '\n' ' ')
    if [[ $got != "$want" ]]; then
        echo "FAIL: [$*] -> [$got], expected [$want]"
        failures=$((failures + 1))
    else
        echo "ok:   [$*] -> [$got]"
    fi
}

all_options='--root --metadata-url --vendor --renderer --policy-routing --table-base --live
  --no-live --boot --json -h --help --version'

check "apply plan show config help" nicsync ""
check "apply" nicsync a
check "plan" nicsync p
check "check" nicsync config ""
check "check" nicsync config c
check "$all_options" nicsync -
check "--root --renderer" nicsync config check --r
check "--no-live" nicsync apply --n
check "$all_options" nicsync apply ""
check "plan" nicsync --vendor aws p
check "show" nicsync --root /tmp --json s
check "aws oracle alibaba" nicsync --vendor ""
check "aws alibaba" nicsync --vendor a
check "netplan network-scripts" nicsync --renderer ""
check "network-scripts" nicsync plan --renderer network
check "auto on off" nicsync --policy-routing ""
check "on off" nicsync --policy-routing o
check "" nicsync --table-base ""
check "http:// https://" nicsync --metadata-url ""
# "--opt=value" with "=" in COMP_WORDBREAKS (bash's default): split into three words.
check "aws oracle alibaba" nicsync --vendor =
check "oracle" nicsync --vendor = o
check "auto" nicsync apply --policy-routing = a
check "apply plan show config help" nicsync --vendor = aws ""
# ... and without "=" in COMP_WORDBREAKS: one word, the replies keep the prefix.
check "--renderer=netplan --renderer=network-scripts" nicsync --renderer=n
check "--policy-routing=on --policy-routing=off" nicsync --policy-routing=o

# --root: directories only.
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
mkdir "$dir/alpha" "$dir/beta" "$dir/with space"
touch "$dir/file"
check "$dir/beta" nicsync --no-live --root "$dir/b"
check "$dir/alpha" nicsync --root "$dir/a"
check "--root=$dir/alpha" nicsync "--root=$dir/a"
COMP_WORDS=(nicsync --root "$dir/w") COMP_CWORD=2 COMPREPLY=()
_nicsync
if [[ ${#COMPREPLY[@]} -eq 1 && ${COMPREPLY[0]} == "$dir/with space" ]]; then
    echo "ok:   a directory with a space is one reply"
else
    echo "FAIL: directory with a space -> [${COMPREPLY[*]}]"
    failures=$((failures + 1))
fi
(cd "$dir" && COMP_WORDS=(nicsync --root "") COMP_CWORD=2 COMPREPLY=() && _nicsync &&
    printf '%s\n' "${COMPREPLY[@]}" | sort | tr '\n' ' ') > "$dir.out"
if [[ $(cat "$dir.out") == "alpha beta with space " ]]; then
    echo "ok:   --root '' in a directory -> its subdirectories, not the file"
else
    echo "FAIL: --root '' -> [$(cat "$dir.out")]"
    failures=$((failures + 1))
fi
rm -f "$dir.out"

# The options offered are exactly the ones the parser accepts.
parser=$(grep -o 'arg == "-[-a-z]*"' "$command_line_cpp" | sed 's/arg == "\(.*\)"/\1/' | sort -u | tr '\n' ' ')
offered=$(printf '%s\n' $all_options | sort -u | tr '\n' ' ')
if [[ -z $parser || $parser != "$offered" ]]; then
    echo "FAIL: the parser accepts [$parser], the completion offers [$offered]"
    failures=$((failures + 1))
else
    echo "ok:   options match command_line.cpp: $parser"
fi
parser_commands=$(grep -o 'arg == "[a-z][a-z]*"' "$command_line_cpp" | sed 's/arg == "\(.*\)"/\1/' | sort -u | tr '\n' ' ')
if [[ $parser_commands != "apply config help plan show " ]]; then
    echo "FAIL: the parser's commands [$parser_commands] differ from the completion's"
    failures=$((failures + 1))
fi

if ((failures > 0)); then
    echo "$failures failure(s)"
    exit 1
fi
echo "all completion checks passed"
