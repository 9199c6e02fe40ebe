#!/usr/bin/env bash
# The step behind action.yml: run one kafkaplan command from the action's inputs, write the
# step's outputs and a Markdown report, and exit with a code the workflow can act on.
#
# Inputs come from environment variables (action.yml maps each `with:` input onto one):
#   INPUT_COMMAND            validate | plan | apply | drift (required)
#   INPUT_ENV                --env NAME
#   INPUT_PROJECT            --project FILE
#   INPUT_TARGETS            one --target pattern per line, each passed as one argument
#   INPUT_ALLOW_DELETES      true: --allow-deletes
#   INPUT_MAX_DESTROY        --max-destroy N
#   INPUT_PLAN_FILE          plan: --out FILE; apply: apply exactly this saved plan
#   INPUT_EXPECT_PLAN        apply: --expect FILE, the reviewed plan a new plan must match
#   INPUT_FORMAT             plan and drift: markdown (default), text or json
#   INPUT_AUTO_APPROVE       true: apply without a plan file passes --auto-approve
#   INPUT_LEASE_WAIT         apply: --lease-wait DURATION
#   INPUT_FAIL_ON_CHANGES    true: exit code 2 (changes, drift) fails the step too
#   INPUT_ARGS               more arguments, one per line, each passed as one argument
#   INPUT_WORKING_DIRECTORY  the folder to run in (default: the current one)
#   KAFKAPLAN                the kafkaplan executable (default: kafkaplan on PATH)
#
# Outputs (to $GITHUB_OUTPUT): exit-code, has-changes (true/false; for apply: whether the
# plan it applied had changes), plan-file (absolute path, when a plan was saved),
# markdown-file (always: the report, or why the command failed), output-file (the
# command's standard output). The Markdown also goes to $GITHUB_STEP_SUMMARY.
#
# Nothing is split on spaces or interpreted by the shell: every target and every extra
# argument reaches kafkaplan exactly as written on its line.
set -euo pipefail

# Stop on a mistake in the inputs: say so in the log and, once the report files exist, in
# the report and the outputs (a comment made from it then says what is wrong instead of
# keeping an old plan).
die() {
    echo "::error title=kafkaplan action::$*" >&2
    if [[ -n ${markdown_file:-} ]]; then
        printf '### ❌ kafkaplan action: %s\n' "$*" >"$markdown_file"
        write_outputs 1 false ""
    fi
    exit 1
}

write_outputs() {
    if [[ -n ${GITHUB_OUTPUT:-} ]]; then
        {
            echo "exit-code=$1"
            echo "has-changes=$2"
            echo "plan-file=$3"
            echo "markdown-file=$markdown_file"
            echo "output-file=$stdout_file"
        } >>"$GITHUB_OUTPUT"
    fi
    if [[ -n ${GITHUB_STEP_SUMMARY:-} ]]; then
        {
            cat "$markdown_file"
            printf '\n'
        } >>"$GITHUB_STEP_SUMMARY"
    fi
}

is_true() {
    case "${1,,}" in
        true | yes | 1) return 0 ;;
        false | no | 0 | "") return 1 ;;
        *) die "expected true or false, got '$1'" ;;
    esac
}

# Append each non-blank line of $2, trimmed of surrounding whitespace, to the array named
# $1, preceded by the option $3 if given.
read_lines() {
    local -n into=$1
    local text=$2 option=${3:-} line
    while IFS= read -r line || [[ -n $line ]]; do
        line="${line#"${line%%[![:space:]]*}"}"
        line="${line%"${line##*[![:space:]]}"}"
        [[ -n $line ]] || continue
        if [[ -n $option ]]; then
            into+=("$option" "$line")
        else
            into+=("$line")
        fi
    done <<<"$text"
}

# A code fence longer than any run of backticks in the file $1.
fence_for() {
    local longest
    longest=$(grep -o '`\+' "$1" | awk '{ if (length > n) n = length } END { print n + 0 }' || true)
    local n=$((longest >= 3 ? longest + 1 : 3))
    printf '%*s' "$n" '' | tr ' ' '`'
}

# Append file $2 to file $1 in a fenced code block.
append_fenced() {
    local fence
    fence=$(fence_for "$2")
    {
        printf '%stext\n' "$fence"
        cat "$2"
        # The block must end on its own line even when the output does not.
        [[ -z $(tail -c 1 "$2") ]] || printf '\n'
        printf '%s\n' "$fence"
    } >>"$1"
}

# Print file $1 to the log without letting its content issue workflow commands (a spec in
# a pull request is not trusted to write `::` lines).
show() {
    local token
    token="kafkaplan-$RANDOM$RANDOM$RANDOM"
    echo "::stop-commands::$token"
    cat "$1"
    echo "::$token::"
}

command=${INPUT_COMMAND:-}
format=${INPUT_FORMAT:-}
plan_file=${INPUT_PLAN_FILE:-}
expect_plan=${INPUT_EXPECT_PLAN:-}
kafkaplan=${KAFKAPLAN:-kafkaplan}

case "$command" in
    validate | plan | apply | drift) ;;
    "") die "the command input is required (validate, plan, apply or drift)" ;;
    *) die "unknown command '$command': use validate, plan, apply or drift" ;;
esac

out_dir=${RUNNER_TEMP:-${TMPDIR:-/tmp}}/kafkaplan-action
mkdir -p "$out_dir"
stdout_file=$out_dir/$command.out
stderr_file=$out_dir/$command.err
markdown_file=$out_dir/$command.md
: >"$stdout_file"
: >"$stderr_file"
: >"$markdown_file"

if [[ -n ${INPUT_WORKING_DIRECTORY:-} ]]; then
    cd -- "$INPUT_WORKING_DIRECTORY" 2>/dev/null ||
        die "no such working directory: $INPUT_WORKING_DIRECTORY"
fi

args=(--no-color)
[[ -z ${INPUT_PROJECT:-} ]] || args+=(--project "$INPUT_PROJECT")
args+=("$command")
[[ -z ${INPUT_ENV:-} ]] || args+=(--env "$INPUT_ENV")

shaping=()
read_lines shaping "${INPUT_TARGETS:-}" --target
! is_true "${INPUT_ALLOW_DELETES:-false}" || shaping+=(--allow-deletes)
[[ -z ${INPUT_MAX_DESTROY:-} ]] || shaping+=(--max-destroy "$INPUT_MAX_DESTROY")

case "$command" in
    plan | drift)
        format=${format:-markdown}
        case "$format" in
            markdown | text | json) ;;
            *) die "unknown format '$format': use markdown, text or json" ;;
        esac
        args+=(--format "$format")
        ;;
    *)
        [[ -z $format ]] || die "the format input applies to plan and drift, not $command"
        ;;
esac

case "$command" in
    plan)
        args+=(--detailed-exitcode "${shaping[@]}")
        if [[ -n $plan_file ]]; then
            # A failed plan writes no file: never leave an older one behind to be uploaded.
            rm -f -- "$plan_file"
            mkdir -p -- "$(dirname -- "$plan_file")"
            args+=(--out "$plan_file")
        fi
        ;;
    apply)
        if [[ -n $plan_file ]]; then
            [[ -z $expect_plan ]] ||
                die "plan-file applies a saved plan as it is; expect-plan checks a new plan against a reviewed one: give one of them"
            ((${#shaping[@]} == 0)) ||
                die "targets, allow-deletes and max-destroy shape a new plan; a saved plan-file is applied as it was planned"
            args+=("$plan_file")
        else
            args+=("${shaping[@]}")
            [[ -z $expect_plan ]] || args+=(--expect "$expect_plan")
            ! is_true "${INPUT_AUTO_APPROVE:-false}" || args+=(--auto-approve)
        fi
        [[ -z ${INPUT_LEASE_WAIT:-} ]] || args+=(--lease-wait "$INPUT_LEASE_WAIT")
        ;;
    *)
        ((${#shaping[@]} == 0)) ||
            die "targets, allow-deletes and max-destroy apply to plan and apply, not $command"
        ;;
esac
[[ $command == apply || -z $expect_plan ]] || die "the expect-plan input applies to apply, not $command"
read_lines args "${INPUT_ARGS:-}"

# Python writes to a pipe in blocks; the log should show each line as it comes.
export PYTHONUNBUFFERED=1

set +e
if [[ $command == apply ]]; then
    # Streamed as it happens (a long apply shows its progress), and kept for the report.
    token="kafkaplan-$RANDOM$RANDOM$RANDOM"
    echo "::stop-commands::$token"
    "$kafkaplan" "${args[@]}" 2>&1 </dev/null | tee "$stdout_file"
    code=${PIPESTATUS[0]}
    echo "::$token::"
else
    "$kafkaplan" "${args[@]}" >"$stdout_file" 2>"$stderr_file" </dev/null
    code=$?
fi
set -e

if [[ $command != apply ]]; then
    show "$stdout_file"
    show "$stderr_file" >&2
fi

has_changes=false
case "$command" in
    plan | drift) [[ $code -ne 2 ]] || has_changes=true ;;
    apply) ! grep -qE '^Apply (complete|finished|interrupted)' "$stdout_file" || has_changes=true ;;
esac

failed=true
if [[ $code -eq 0 ]] || { [[ $code -eq 2 ]] && [[ $command == plan || $command == drift ]]; }; then
    failed=false
fi

# The report: what the command printed, or, when it failed, that it failed and why. It is
# never empty, so a comment made from it is never blanked.
if [[ $failed == true ]]; then
    {
        printf '### ❌ kafkaplan %s failed (exit code %s)\n\n' "$command" "$code"
        [[ -z ${INPUT_ENV:-} ]] || printf "Environment: \`%s\`\n\n" "$INPUT_ENV"
    } >>"$markdown_file"
    if [[ -s $stdout_file && $format == markdown ]]; then
        cat "$stdout_file" >>"$markdown_file"
        printf '\n' >>"$markdown_file"
    elif [[ -s $stdout_file ]]; then
        append_fenced "$markdown_file" "$stdout_file"
    fi
    if [[ -s $stderr_file ]]; then
        [[ ! -s $stdout_file ]] || printf '\n' >>"$markdown_file"
        append_fenced "$markdown_file" "$stderr_file"
    fi
    if [[ ! -s $stdout_file && ! -s $stderr_file ]]; then
        printf 'kafkaplan printed nothing; see the job log.\n' >>"$markdown_file"
    fi
elif [[ $format == markdown ]]; then
    cat "$stdout_file" >>"$markdown_file"
else
    printf '### kafkaplan %s\n\n' "$command" >>"$markdown_file"
    append_fenced "$markdown_file" "$stdout_file"
    if [[ -s $stderr_file ]]; then
        append_fenced "$markdown_file" "$stderr_file"
    fi
fi

saved=""
if [[ $command == plan && -n $plan_file && $failed == false && -f $plan_file ]]; then
    saved=$(cd "$(dirname "$plan_file")" && pwd)/$(basename "$plan_file")
fi

write_outputs "$code" "$has_changes" "$saved"

if [[ $failed == true ]]; then
    echo "::error title=kafkaplan $command::kafkaplan $command failed with exit code $code" >&2
    exit "$code"
fi
if [[ $code -eq 2 ]] && is_true "${INPUT_FAIL_ON_CHANGES:-false}"; then
    echo "::error title=kafkaplan $command::kafkaplan $command found changes (exit code 2)" >&2
    exit 2
fi
exit 0
