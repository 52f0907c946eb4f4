/// The built-in rule pack. docs/detection.md explains the format and the choices.
///
/// Counting attempts, not lines: sshd writes several lines for one failed attempt (`Invalid
/// user`, a PAM failure, `Failed password`). Only the line that is the attempt itself gets a
/// `method`; the lines around it are `login` failures without one. A brute-force threshold
/// counts `login` failures that have a method, so each attempt counts once.
enum BuiltinRules {
    static let yaml = #"""
    rules:
    # ---- sshd: attempts (with a method) -----------------------------------------------
    - id: sshd.accepted.keyboard_interactive
      programs: [sshd, sshd-session]
      pattern: "Accepted keyboard-interactive/pam for {user:greedy} from {source_ip} port {source_port} ssh{_:int}"
      kind: login
      outcome: success
      severity: low
      set: {method: keyboard-interactive}
    - id: sshd.accepted.keyboard_interactive.key
      programs: [sshd, sshd-session]
      pattern: "Accepted keyboard-interactive/pam for {user:word} from {source_ip} port {source_port} ssh{_:int}: {_}"
      kind: login
      outcome: success
      severity: low
      set: {method: keyboard-interactive}
    - id: sshd.accepted
      programs: [sshd, sshd-session]
      pattern: "Accepted {method} for {user:greedy} from {source_ip} port {source_port} ssh{_:int}"
      kind: login
      outcome: success
      severity: low
    - id: sshd.accepted.key
      programs: [sshd, sshd-session]
      pattern: "Accepted {method} for {user:word} from {source_ip} port {source_port} ssh{_:int}: {_}"
      kind: login
      outcome: success
      severity: low
    - id: sshd.failed_none.invalid_user
      programs: [sshd, sshd-session]
      pattern: "Failed none for invalid user {user:greedy} from {source_ip} port {source_port} ssh{_:int}"
      kind: login
      outcome: failure
      severity: info
    - id: sshd.failed_none.invalid_user.key
      programs: [sshd, sshd-session]
      pattern: "Failed none for invalid user {user:word} from {source_ip} port {source_port} ssh{_:int}: {_}"
      kind: login
      outcome: failure
      severity: info
    - id: sshd.failed_none
      programs: [sshd, sshd-session]
      pattern: "Failed none for {user:greedy} from {source_ip} port {source_port} ssh{_:int}"
      kind: login
      outcome: failure
      severity: info
    - id: sshd.failed_none.key
      programs: [sshd, sshd-session]
      pattern: "Failed none for {user:word} from {source_ip} port {source_port} ssh{_:int}: {_}"
      kind: login
      outcome: failure
      severity: info
    - id: sshd.failed.keyboard_interactive.invalid_user
      programs: [sshd, sshd-session]
      pattern: "Failed keyboard-interactive/pam for invalid user {user:greedy} from {source_ip} port {source_port} ssh{_:int}"
      kind: login
      outcome: failure
      severity: low
      set: {method: keyboard-interactive}
    - id: sshd.failed.keyboard_interactive.invalid_user.key
      programs: [sshd, sshd-session]
      pattern: "Failed keyboard-interactive/pam for invalid user {user:word} from {source_ip} port {source_port} ssh{_:int}: {_}"
      kind: login
      outcome: failure
      severity: low
      set: {method: keyboard-interactive}
    - id: sshd.failed.keyboard_interactive
      programs: [sshd, sshd-session]
      pattern: "Failed keyboard-interactive/pam for {user:greedy} from {source_ip} port {source_port} ssh{_:int}"
      kind: login
      outcome: failure
      severity: low
      set: {method: keyboard-interactive}
    - id: sshd.failed.keyboard_interactive.key
      programs: [sshd, sshd-session]
      pattern: "Failed keyboard-interactive/pam for {user:word} from {source_ip} port {source_port} ssh{_:int}: {_}"
      kind: login
      outcome: failure
      severity: low
      set: {method: keyboard-interactive}
    - id: sshd.failed.invalid_user
      programs: [sshd, sshd-session]
      pattern: "Failed {method} for invalid user {user:greedy} from {source_ip} port {source_port} ssh{_:int}"
      kind: login
      outcome: failure
      severity: low
    - id: sshd.failed.invalid_user.key
      programs: [sshd, sshd-session]
      pattern: "Failed {method} for invalid user {user:word} from {source_ip} port {source_port} ssh{_:int}: {_}"
      kind: login
      outcome: failure
      severity: low
    - id: sshd.failed.illegal_user
      programs: [sshd, sshd-session]
      pattern: "Failed {method} for illegal user {user:greedy} from {source_ip} port {source_port} ssh{_:int}"
      kind: login
      outcome: failure
      severity: low
    - id: sshd.failed.illegal_user.key
      programs: [sshd, sshd-session]
      pattern: "Failed {method} for illegal user {user:word} from {source_ip} port {source_port} ssh{_:int}: {_}"
      kind: login
      outcome: failure
      severity: low
    - id: sshd.failed
      programs: [sshd, sshd-session]
      pattern: "Failed {method} for {user:greedy} from {source_ip} port {source_port} ssh{_:int}"
      kind: login
      outcome: failure
      severity: low
    - id: sshd.failed.key
      programs: [sshd, sshd-session]
      pattern: "Failed {method} for {user:word} from {source_ip} port {source_port} ssh{_:int}: {_}"
      kind: login
      outcome: failure
      severity: low
    - id: sshd.accepted.no_suffix
      programs: [sshd, sshd-session]
      pattern: "Accepted {method} for {user:greedy} from {source_ip} port {source_port}"
      kind: login
      outcome: success
      severity: low
    - id: sshd.failed.invalid_user.no_suffix
      programs: [sshd, sshd-session]
      pattern: "Failed {method} for invalid user {user:greedy} from {source_ip} port {source_port}"
      kind: login
      outcome: failure
      severity: low
    - id: sshd.failed.illegal_user.no_suffix
      programs: [sshd, sshd-session]
      pattern: "Failed {method} for illegal user {user:greedy} from {source_ip} port {source_port}"
      kind: login
      outcome: failure
      severity: low
    - id: sshd.failed.no_suffix
      programs: [sshd, sshd-session]
      pattern: "Failed {method} for {user:greedy} from {source_ip} port {source_port}"
      kind: login
      outcome: failure
      severity: low
    # ---- sshd: lines around an attempt (no method: they do not count as attempts) ---------
    - id: sshd.invalid_user
      programs: [sshd, sshd-session]
      pattern: "Invalid user {user:greedy} from {source_ip} port {source_port}"
      kind: login
      outcome: failure
      severity: low
    - id: sshd.invalid_user.no_port
      programs: [sshd, sshd-session]
      pattern: "Invalid user {user:greedy} from {source_ip}"
      kind: login
      outcome: failure
      severity: low
    - id: sshd.illegal_user
      programs: [sshd, sshd-session]
      pattern: "Illegal user {user:greedy} from {source_ip} port {source_port}"
      kind: login
      outcome: failure
      severity: low
    - id: sshd.illegal_user.no_port
      programs: [sshd, sshd-session]
      pattern: "Illegal user {user:greedy} from {source_ip}"
      kind: login
      outcome: failure
      severity: low
    - id: sshd.input_userauth.invalid_user
      programs: [sshd, sshd-session]
      pattern: "input_userauth_request: invalid user {user:greedy} [preauth]"
      kind: login
      outcome: failure
      severity: low
    - id: sshd.input_userauth.invalid_user.no_suffix
      programs: [sshd, sshd-session]
      pattern: "input_userauth_request: invalid user {user:greedy}"
      kind: login
      outcome: failure
      severity: low
    - id: sshd.input_userauth.illegal_user
      programs: [sshd, sshd-session]
      pattern: "input_userauth_request: illegal user {user:greedy}"
      kind: login
      outcome: failure
      severity: low
    - id: sshd.pam_error.illegal_user
      programs: [sshd, sshd-session]
      pattern: "error: PAM: Authentication failure for illegal user {user:greedy} from {source_ip}"
      kind: login
      outcome: failure
      severity: low
    - id: sshd.pam_error
      programs: [sshd, sshd-session]
      pattern: "error: PAM: Authentication failure for {user:greedy} from {source_ip}"
      kind: login
      outcome: failure
      severity: low
    - id: sshd.pam_error.other
      programs: [sshd, sshd-session]
      pattern: "error: PAM: {_:greedy} for illegal user {user:greedy} from {source_ip}"
      kind: login
      outcome: failure
      severity: low
    - id: sshd.pam_error.other.user
      programs: [sshd, sshd-session]
      pattern: "error: PAM: {_:greedy} for {user:greedy} from {source_ip}"
      kind: login
      outcome: failure
      severity: low
    - id: sshd.too_many_failures.no_user
      programs: [sshd, sshd-session]
      pattern: "Disconnecting: Too many authentication failures [preauth]"
      kind: login
      outcome: failure
      severity: medium
    - id: sshd.too_many_failures.no_user.no_suffix
      programs: [sshd, sshd-session]
      pattern: "Disconnecting: Too many authentication failures"
      kind: login
      outcome: failure
      severity: medium
    - id: sshd.pam_check_pass
      programs: [sshd, sshd-session]
      pattern: "pam_unix(sshd:auth): check pass; user unknown"
      kind: login
      outcome: failure
      severity: low
    - id: sshd.pam_bad_username
      programs: [sshd, sshd-session]
      pattern: "pam_unix(sshd:auth): bad username [{_}]"
      kind: login
      outcome: failure
      severity: low
    - id: sshd.account_expired
      programs: [sshd, sshd-session]
      pattern: "pam_unix(sshd:account): account {user} has expired (account expired)"
      kind: login
      outcome: failure
      severity: low
    - id: sshd.pam_account_denied
      programs: [sshd, sshd-session]
      pattern: "fatal: Access denied for user {user:greedy} by PAM account configuration [preauth]"
      kind: login
      outcome: failure
      severity: low
    - id: sshd.pam_account_denied.no_suffix
      programs: [sshd, sshd-session]
      pattern: "fatal: Access denied for user {user:greedy} by PAM account configuration"
      kind: login
      outcome: failure
      severity: low
    - id: sshd.session_opened
      programs: [sshd, sshd-session]
      pattern: "pam_unix(sshd:session): session opened for user {user}(uid={_}) by {_}"
      kind: login
      outcome: success
      severity: info
    - id: sshd.session_opened.legacy
      programs: [sshd, sshd-session]
      pattern: "pam_unix(sshd:session): session opened for user {user} by {_}"
      kind: login
      outcome: success
      severity: info
    - id: sshd.session_closed
      programs: [sshd, sshd-session]
      pattern: "pam_unix(sshd:session): session closed for user {user}"
      kind: logout
      outcome: success
      severity: info
    - id: sshd.root_forced_command
      programs: [sshd, sshd-session]
      pattern: "Root login accepted for forced command."
      kind: login
      outcome: success
      severity: low
      set: {user: root}
    - id: sshd.max_auth_tries.invalid_user
      programs: [sshd, sshd-session]
      pattern: "error: maximum authentication attempts exceeded for invalid user {user:greedy} from {source_ip} port {source_port} ssh{_:int} [preauth]"
      kind: login
      outcome: failure
      severity: medium
    - id: sshd.max_auth_tries
      programs: [sshd, sshd-session]
      pattern: "error: maximum authentication attempts exceeded for {user:greedy} from {source_ip} port {source_port} ssh{_:int} [preauth]"
      kind: login
      outcome: failure
      severity: medium
    - id: sshd.too_many_failures
      programs: [sshd, sshd-session]
      pattern: "Disconnecting authenticating user {user:greedy} {source_ip} port {source_port}: Too many authentication failures [preauth]"
      kind: login
      outcome: failure
      severity: medium
    - id: sshd.too_many_failures.invalid_user
      programs: [sshd, sshd-session]
      pattern: "Disconnecting invalid user {user:greedy} {source_ip} port {source_port}: Too many authentication failures [preauth]"
      kind: login
      outcome: failure
      severity: medium
    - id: sshd.too_many_failures.legacy
      programs: [sshd, sshd-session]
      pattern: "Disconnecting: Too many authentication failures for {user:greedy} [preauth]"
      kind: login
      outcome: failure
      severity: medium
    - id: sshd.too_many_failures.legacy.no_suffix
      programs: [sshd, sshd-session]
      pattern: "Disconnecting: Too many authentication failures for {user:greedy}"
      kind: login
      outcome: failure
      severity: medium
    - id: sshd.preauth.closed
      programs: [sshd, sshd-session]
      pattern: "Connection closed by authenticating user {user:greedy} {source_ip} port {source_port} [preauth]"
      kind: login
      outcome: failure
      severity: info
    - id: sshd.preauth.closed.invalid_user
      programs: [sshd, sshd-session]
      pattern: "Connection closed by invalid user {user:greedy} {source_ip} port {source_port} [preauth]"
      kind: login
      outcome: failure
      severity: info
    - id: sshd.preauth.disconnected
      programs: [sshd, sshd-session]
      pattern: "Disconnected from authenticating user {user:greedy} {source_ip} port {source_port} [preauth]"
      kind: login
      outcome: failure
      severity: info
    - id: sshd.preauth.disconnected.invalid_user
      programs: [sshd, sshd-session]
      pattern: "Disconnected from invalid user {user:greedy} {source_ip} port {source_port} [preauth]"
      kind: login
      outcome: failure
      severity: info
    - id: sshd.pam_failure
      programs: [sshd, sshd-session]
      pattern: "pam_unix(sshd:auth): authentication failure; logname={_} uid={_} euid={_} tty={_} ruser={_} rhost={source_ip}  user={user:greedy}"
      kind: login
      outcome: failure
      severity: low
    - id: sshd.pam_failure.one_space
      programs: [sshd, sshd-session]
      pattern: "pam_unix(sshd:auth): authentication failure; logname={_} uid={_} euid={_} tty={_} ruser={_} rhost={source_ip} user={user:greedy}"
      kind: login
      outcome: failure
      severity: low
    - id: sshd.pam_failure.unknown_user
      programs: [sshd, sshd-session]
      pattern: "pam_unix(sshd:auth): authentication failure; logname={_} uid={_} euid={_} tty={_} ruser={_} rhost={source_ip}"
      kind: login
      outcome: failure
      severity: low
    - id: sshd.pam_more_failures
      programs: [sshd, sshd-session]
      pattern: "PAM {count} more authentication failure{_}; logname={_} uid={_} euid={_} tty={_} ruser={_} rhost={source_ip}  user={user:greedy}"
      kind: login
      outcome: failure
      severity: low
    - id: sshd.pam_more_failures.one_space
      programs: [sshd, sshd-session]
      pattern: "PAM {count} more authentication failure{_}; logname={_} uid={_} euid={_} tty={_} ruser={_} rhost={source_ip} user={user:greedy}"
      kind: login
      outcome: failure
      severity: low
    - id: sshd.pam_more_failures.unknown_user
      programs: [sshd, sshd-session]
      pattern: "PAM {count} more authentication failure{_}; logname={_} uid={_} euid={_} tty={_} ruser={_} rhost={source_ip}"
      kind: login
      outcome: failure
      severity: low
    - id: sshd.root_refused
      programs: [sshd, sshd-session]
      pattern: "ROOT LOGIN REFUSED FROM {source_ip} port {source_port}"
      kind: login
      outcome: failure
      severity: medium
      set: {user: root}
    - id: sshd.root_refused.no_port
      programs: [sshd, sshd-session]
      pattern: "ROOT LOGIN REFUSED FROM {source_ip}"
      kind: login
      outcome: failure
      severity: medium
      set: {user: root}
    - id: sshd.not_allowed.allow_users
      programs: [sshd, sshd-session]
      pattern: "User {user:greedy} from {source_ip} not allowed because not listed in AllowUsers"
      kind: login
      outcome: failure
      severity: medium
    - id: sshd.not_allowed.deny_users
      programs: [sshd, sshd-session]
      pattern: "User {user:greedy} from {source_ip} not allowed because listed in DenyUsers"
      kind: login
      outcome: failure
      severity: medium
    - id: sshd.not_allowed.groups
      programs: [sshd, sshd-session]
      pattern: "User {user:greedy} from {source_ip} not allowed because {_} groups {_}"
      kind: login
      outcome: failure
      severity: medium
    - id: sshd.not_allowed.from
      programs: [sshd, sshd-session]
      pattern: "User {user:greedy} from {source_ip} not allowed because {_}"
      kind: login
      outcome: failure
      severity: low
    - id: sshd.not_allowed
      programs: [sshd, sshd-session]
      pattern: "User {user:greedy} not allowed because {_}"
      kind: login
      outcome: failure
      severity: low
    - id: sshd.logout
      programs: [sshd, sshd-session]
      pattern: "Disconnected from user {user:greedy} {source_ip} port {source_port}"
      kind: logout
      outcome: success
      severity: info
    # ---- su and runuser ---------------------------------------------------------------
    - id: pam_legacy.auth_failure
      programs: [sshd(pam_unix), login(pam_unix)]
      pattern: "authentication failure; logname={_} uid={_} euid={_} tty={_} ruser={_} rhost={source_ip}  user={user:greedy}"
      kind: login
      outcome: failure
      severity: low
    - id: pam_legacy.auth_failure.one_space
      programs: [sshd(pam_unix), login(pam_unix)]
      pattern: "authentication failure; logname={_} uid={_} euid={_} tty={_} ruser={_} rhost={source_ip} user={user:greedy}"
      kind: login
      outcome: failure
      severity: low
    - id: pam_legacy.auth_failure.unknown_user
      programs: [sshd(pam_unix), login(pam_unix)]
      pattern: "authentication failure; logname={_} uid={_} euid={_} tty={_} ruser={_} rhost={source_ip}"
      kind: login
      outcome: failure
      severity: low
    - id: pam_legacy.more_failures
      programs: [sshd(pam_unix), login(pam_unix)]
      pattern: "{_} more authentication failure{_}; logname={_} uid={_} euid={_} tty={_} ruser={_} rhost={source_ip}  user={user:greedy}"
      kind: login
      outcome: failure
      severity: low
    - id: pam_legacy.session_opened
      programs: [sshd(pam_unix), login(pam_unix)]
      pattern: "session opened for user {user} by {_}"
      kind: login
      outcome: success
      severity: info
    - id: pam_legacy.session_closed
      programs: [sshd(pam_unix), login(pam_unix)]
      pattern: "session closed for user {user}"
      kind: logout
      outcome: success
      severity: info
    - id: su.shadow.success
      programs: [su]
      pattern: "Successful su for {target_user} by {user}"
      kind: privilege
      outcome: success
      severity: medium
    - id: su.shadow.failed
      programs: [su]
      pattern: "FAILED su for {target_user} by {user}"
      kind: privilege
      outcome: failure
      severity: medium
    - id: su.shadow.sulog.success
      programs: [su]
      pattern: "+ /dev/{_} {user}:{target_user}"
      kind: privilege
      outcome: success
      severity: info
    - id: su.shadow.sulog.failed
      programs: [su]
      pattern: "- /dev/{_} {user}:{target_user}"
      kind: privilege
      outcome: failure
      severity: info
    - id: su.busybox.success
      programs: [su]
      pattern: "+ {_} {user}:{target_user}"
      kind: privilege
      outcome: success
      severity: medium
    - id: su.busybox.failed
      programs: [su]
      pattern: "- {_} {user}:{target_user}"
      kind: privilege
      outcome: failure
      severity: medium
    - id: su.pam_authenticate
      programs: [su]
      pattern: "pam_authenticate: {_}"
      kind: privilege
      outcome: failure
      severity: info
    - id: su.session_opened
      programs: [su]
      pattern: "pam_unix({_}:session): session opened for user {target_user}(uid={_}) by {user}(uid={_})"
      kind: privilege
      outcome: success
      severity: info
    - id: su.session_opened.legacy
      programs: [su]
      pattern: "pam_unix({_}:session): session opened for user {target_user} by {user}(uid={_})"
      kind: privilege
      outcome: success
      severity: info
    - id: su_legacy.auth_failure
      programs: [su(pam_unix)]
      pattern: "authentication failure; logname={user} uid={_} euid={_} tty={_} ruser={_} rhost={_} user={target_user}"
      kind: privilege
      outcome: failure
      severity: medium
    - id: su_legacy.session_opened
      programs: [su(pam_unix)]
      pattern: "session opened for user {target_user} by {user}(uid={_})"
      kind: privilege
      outcome: success
      severity: info
    - id: su.pam_more_failures
      programs: [su]
      pattern: "PAM {_} more authentication failure{_}; logname={user} uid={_} euid={_} tty={_} ruser={_} rhost={_}  user={target_user}"
      kind: privilege
      outcome: failure
      severity: medium
    - id: su.failed
      programs: [su]
      pattern: "FAILED SU (to {target_user}) {user} on {_}"
      kind: privilege
      outcome: failure
      severity: medium
    - id: su.success
      programs: [su]
      pattern: "(to {target_user}) {user} on {_}"
      kind: privilege
      outcome: success
      severity: low
    - id: su.pam_failure
      programs: [su]
      pattern: "pam_unix({_}:auth): authentication failure; logname={_} uid={_} euid={_} tty={_} ruser={ruser} rhost={_}  user={target_user}"
      kind: privilege
      outcome: failure
      severity: low
      map: {user: [ruser]}
    - id: su.pam_failure.one_space
      programs: [su]
      pattern: "pam_unix({_}:auth): authentication failure; logname={_} uid={_} euid={_} tty={_} ruser={ruser} rhost={_} user={target_user}"
      kind: privilege
      outcome: failure
      severity: low
      map: {user: [ruser]}
    - id: runuser.session
      programs: [runuser]
      pattern: "pam_unix(runuser{_}:session): session opened for user {target_user}(uid={_}) by {user}(uid={_})"
      kind: privilege
      outcome: success
      severity: info
    - id: runuser.session.by_root.legacy
      programs: [runuser]
      pattern: "pam_unix(runuser{_}:session): session opened for user {target_user} by (uid={_})"
      kind: privilege
      outcome: success
      severity: info
    # ---- sudo -------------------------------------------------------------------------
    - id: sudo.not_in_sudoers
      programs: [sudo]
      pattern: "{user} : user NOT in sudoers ; {_}USER={target_user} ; {_}COMMAND={_}"
      kind: privilege
      outcome: failure
      severity: high
    - id: sudo.incorrect_password
      programs: [sudo]
      pattern: "{user} : {count} incorrect password attempt{_}USER={target_user} ; {_}COMMAND={_}"
      kind: privilege
      outcome: failure
      severity: medium
      set: {method: password}
    - id: sudo.command_not_allowed
      programs: [sudo]
      pattern: "{user} : command not allowed ; {_}USER={target_user} ; {_}COMMAND={_}"
      kind: privilege
      outcome: failure
      severity: high
    - id: sudo.password_required
      programs: [sudo]
      pattern: "{user} : a password is required ; {_}USER={target_user} ; {_}COMMAND={_}"
      kind: privilege
      outcome: failure
      severity: medium
    - id: sudo.not_authorized_on_host
      programs: [sudo]
      pattern: "{user} : user NOT authorized on host ; {_}USER={target_user} ; {_}COMMAND={_}"
      kind: privilege
      outcome: failure
      severity: high
    - id: sudo.no_tty
      programs: [sudo]
      pattern: "{user} : no tty present and no askpass program specified ; {_}USER={target_user} ; {_}COMMAND={_}"
      kind: privilege
      outcome: failure
      severity: medium
    - id: sudo.incorrect_password_attempts
      programs: [sudo]
      pattern: "{user} : {_} incorrect password attempts ; {_}USER={target_user} ; {_}COMMAND={_}"
      kind: privilege
      outcome: failure
      severity: medium
    - id: sudo.command_continued
      programs: [sudo]
      pattern: "{user} : (command continued) {_}"
      kind: privilege
      outcome: success
      severity: info
    - id: sudo.json.accept
      programs: [sudo]
      pattern: "@cee:{{\"sudo\":{{\"accept\":{{{_}\"submituser\":\"{user}\",{_}\"runuser\":\"{target_user}\",{_}"
      kind: privilege
      outcome: success
      severity: low
    - id: sudo.json.reject
      programs: [sudo]
      pattern: "@cee:{{\"sudo\":{{\"reject\":{{{_}\"submituser\":\"{user}\",{_}\"runuser\":\"{target_user}\",{_}"
      kind: privilege
      outcome: failure
      severity: high
    - id: sudo.session_opened
      programs: [sudo]
      pattern: "pam_unix({_}:session): session opened for user {target_user}(uid={_}) by {user}(uid={_})"
      kind: privilege
      outcome: success
      severity: info
    - id: sudo.session_opened.legacy
      programs: [sudo]
      pattern: "pam_unix({_}:session): session opened for user {target_user} by {user}(uid={_})"
      kind: privilege
      outcome: success
      severity: info
    - id: sudo.pam_more_failures
      programs: [sudo]
      pattern: "PAM {_} more authentication failure{_}; logname={user} uid={_} euid={_} tty={_} ruser={_} rhost={_}  user={target_user}"
      kind: privilege
      outcome: failure
      severity: medium
    - id: sudo.command.host
      programs: [sudo]
      pattern: "{user} : HOST={_} ; TTY={_} ; PWD={_} ; USER={target_user} ; {_}COMMAND={_}"
      kind: privilege
      outcome: success
      severity: low
    - id: sudo.command.no_tty
      programs: [sudo]
      pattern: "{user} : PWD={_} ; USER={target_user} ; {_}COMMAND={_}"
      kind: privilege
      outcome: success
      severity: low
    - id: sudo.command
      programs: [sudo]
      pattern: "{user} : TTY={_} ; PWD={_} ; USER={target_user} ; {_}COMMAND={_}"
      kind: privilege
      outcome: success
      severity: low
    - id: sudo.refused
      programs: [sudo]
      pattern: "{user} : {_} ; TTY={_} ; PWD={_} ; USER={target_user} ; {_}COMMAND={_}"
      kind: privilege
      outcome: failure
      severity: medium
    - id: sudo.pam_failure
      programs: [sudo]
      pattern: "pam_unix(sudo{_}:auth): authentication failure; logname={_} uid={_} euid={_} tty={_} ruser={ruser} rhost={_}  user={pam_user}"
      kind: privilege
      outcome: failure
      severity: low
      map: {user: [ruser, pam_user]}
    # ---- login and systemd-logind ---------------------------------------------------------
    - id: sudo.pam_failure.one_space
      programs: [sudo]
      pattern: "pam_unix(sudo{_}:auth): authentication failure; logname={_} uid={_} euid={_} tty={_} ruser={ruser} rhost={_} user={pam_user}"
      kind: privilege
      outcome: failure
      severity: low
      map: {user: [ruser, pam_user]}
    # ---- login and systemd-logind ---------------------------------------------------------
    - id: login.too_many_tries.from
      programs: [login]
      pattern: "TOO MANY LOGIN TRIES ({_}) on '{_}' from '{source_ip}' FOR '{user}'{_}"
      kind: login
      outcome: failure
      severity: medium
      set: {method: password}
    - id: login.too_many_tries
      programs: [login]
      pattern: "TOO MANY LOGIN TRIES ({_}) on '{_}' FOR '{user}'{_}"
      kind: login
      outcome: failure
      severity: medium
      set: {method: password}
    - id: login.too_many_tries.util_linux
      programs: [login]
      pattern: "TOO MANY LOGIN TRIES ({_}) FROM {source_ip} FOR {user}, {_}"
      kind: login
      outcome: failure
      severity: medium
      set: {method: password}
    - id: login.logged_in.from
      programs: [login]
      pattern: "'{user}' logged in {_}on '{_}' from '{source_ip}'"
      kind: login
      outcome: success
      severity: low
    - id: login.logged_in
      programs: [login]
      pattern: "'{user}' logged in {_}on '{_}'{_}"
      kind: login
      outcome: success
      severity: low
    - id: login.on_by_from
      programs: [login]
      pattern: "LOGIN ON {_} BY {user} FROM {source_ip}"
      kind: login
      outcome: success
      severity: low
    - id: login.on_by
      programs: [login]
      pattern: "LOGIN ON {_} BY {user}"
      kind: login
      outcome: success
      severity: low
    - id: login.dialup
      programs: [login]
      pattern: "DIALUP AT {_} BY {user}"
      kind: login
      outcome: success
      severity: info
    - id: login.failed.session
      programs: [login]
      pattern: "FAILED LOGIN SESSION FROM {source_ip} FOR {user}, {_}"
      kind: login
      outcome: failure
      severity: low
      set: {method: password}
    - id: login.busybox.invalid_password.from
      programs: [login]
      pattern: "invalid password for '{user}'{_}on '{_}' from '{source_ip}'"
      kind: login
      outcome: failure
      severity: low
      set: {method: password}
    - id: login.busybox.invalid_password
      programs: [login]
      pattern: "invalid password for '{user}'{_}on '{_}'"
      kind: login
      outcome: failure
      severity: low
      set: {method: password}
    - id: login.busybox.root
      programs: [login]
      pattern: "root login on '{_}'"
      kind: login
      outcome: success
      severity: medium
      set: {user: root}
    - id: login.pam_authenticate
      programs: [login]
      pattern: "pam_authenticate call failed: {_}"
      kind: login
      outcome: failure
      severity: info
    - id: login.pam_auth_failure
      programs: [login]
      pattern: "pam_unix(login:auth): authentication failure; logname={_} uid={_} euid={_} tty={_} ruser={_} rhost={_}  user={user:greedy}"
      kind: login
      outcome: failure
      severity: low
    - id: login.pam_auth_failure.no_user
      programs: [login]
      pattern: "pam_unix(login:auth): authentication failure; logname={_} uid={_} euid={_} tty={_} ruser={_} rhost={_}"
      kind: login
      outcome: failure
      severity: low
    - id: login.pam_auth_failure.one_space
      programs: [login]
      pattern: "pam_unix(login:auth): authentication failure; logname={_} uid={_} euid={_} tty={_} ruser={_} rhost={_} user={user:greedy}"
      kind: login
      outcome: failure
      severity: low
    - id: login.failed.from
      programs: [login]
      pattern: "FAILED LOGIN ({_}) on '{_}' from '{source_ip}' FOR '{user}', {_}"
      kind: login
      outcome: failure
      severity: low
    - id: login.failed.legacy
      programs: [login]
      pattern: "FAILED LOGIN ({_}) on `{_}' FOR `{user}', {_}"
      kind: login
      outcome: failure
      severity: low
    - id: login.refused
      programs: [login]
      pattern: "LOGIN '{user}' REFUSED {_}on '{_}'{_}"
      kind: login
      outcome: failure
      severity: medium
      set: {method: password}
    - id: login.illegal_root
      programs: [login]
      pattern: "ILLEGAL ROOT LOGIN {_}on '{_}'{_}"
      kind: login
      outcome: failure
      severity: high
      set: {user: root, method: password}
    - id: login.failure_limit
      programs: [login]
      pattern: "exceeded failure limit for '{user}' {_}on '{_}'{_}"
      kind: login
      outcome: failure
      severity: medium
      set: {method: password}
    - id: login.repeated_failures
      programs: [login]
      pattern: "REPEATED login failures on '{_}'{_}"
      kind: login
      outcome: failure
      severity: medium
      set: {method: password}
    - id: login.root.shadow.from
      programs: [login]
      pattern: "ROOT LOGIN {_}on '{_}' from '{source_ip}'"
      kind: login
      outcome: success
      severity: medium
      set: {user: root}
    - id: login.busybox.pam_failed
      programs: [login]
      pattern: "pam_{_} call failed: {_}"
      kind: login
      outcome: failure
      severity: info
    - id: login.session_opened.by_login
      programs: [login]
      pattern: "pam_unix(login:session): session opened for user {user}(uid={_}) by LOGIN(uid={_})"
      kind: login
      outcome: success
      severity: low
    - id: login.session_opened.by_login.legacy
      programs: [login]
      pattern: "pam_unix(login:session): session opened for user {user} by LOGIN(uid={_})"
      kind: login
      outcome: success
      severity: low
    - id: login.failed
      programs: [login]
      pattern: "FAILED LOGIN ({_}) on '{_}' FOR '{user}', {_}"
      kind: login
      outcome: failure
      severity: medium
      set: {method: password}
    - id: login.failed.remote
      programs: [login]
      pattern: "FAILED LOGIN {_} FROM {source_ip} FOR {user}, {_}"
      kind: login
      outcome: failure
      severity: medium
      set: {method: password}
    - id: login.root.from
      programs: [login]
      pattern: "ROOT LOGIN ON {_} FROM {source_ip}"
      kind: login
      outcome: success
      severity: medium
      set: {user: root}
    - id: login.root
      programs: [login]
      pattern: "ROOT LOGIN {_}"
      kind: login
      outcome: success
      severity: medium
      set: {user: root}
    - id: login.session_opened
      programs: [login]
      pattern: "pam_unix(login:session): session opened for user {user}(uid={_}) by {_}"
      kind: login
      outcome: success
      severity: low
    - id: login.session_closed
      programs: [login]
      pattern: "pam_unix(login:session): session closed for user {user}"
      kind: logout
      outcome: success
      severity: info
    - id: logind.new_session
      programs: [systemd-logind]
      pattern: "New session {_} of user {user}."
      kind: login
      outcome: success
      severity: info
    - id: logind.logged_out
      programs: [systemd-logind]
      pattern: "Session {_} logged out. Waiting for processes to exit."
      kind: logout
      outcome: success
      severity: info
    - id: logind.removed_session
      programs: [systemd-logind]
      pattern: "Removed session {_}."
      kind: logout
      outcome: success
      severity: info
    # ---- accounts (shadow utilities) ------------------------------------------------------
    - id: useradd.failed
      programs: [useradd]
      pattern: "failed adding user '{target_user}', {_}"
      kind: account.created
      outcome: failure
      severity: medium
    - id: useradd.failed.legacy
      programs: [useradd]
      pattern: "failed adding user `{target_user}', {_}"
      kind: account.created
      outcome: failure
      severity: medium
    - id: useradd.user
      programs: [useradd]
      pattern: "new user: name={target_user},{_}"
      kind: account.created
      outcome: success
      severity: high
    - id: useradd.group
      programs: [useradd]
      pattern: "new group: name={group},{_}"
      kind: group.created
      outcome: success
      severity: low
    - id: shadow.member_added.shadow_group
      programs: [useradd, usermod]
      pattern: "add '{target_user}' to shadow group '{group}'"
      kind: group.member_added
      outcome: success
      severity: info
    - id: shadow.member_added.legacy
      programs: [useradd, usermod]
      pattern: "add `{target_user}' to group `{group}'"
      kind: group.member_added
      outcome: success
      severity: high
    - id: shadow.member_removed.shadow_group
      programs: [usermod, userdel]
      pattern: "delete '{target_user}' from shadow group '{group}'"
      kind: group.member_removed
      outcome: success
      severity: info
    - id: shadow.member_added
      programs: [useradd, usermod]
      pattern: "add '{target_user}' to group '{group}'"
      kind: group.member_added
      outcome: success
      severity: medium
    - id: shadow.member_removed
      programs: [usermod, userdel]
      pattern: "delete '{target_user}' from group '{group}'"
      kind: group.member_removed
      outcome: success
      severity: medium
    - id: usermod.lock
      programs: [usermod]
      pattern: "lock user '{target_user}' password"
      kind: account.disabled
      outcome: success
      severity: medium
    - id: usermod.unlock
      programs: [usermod]
      pattern: "unlock user '{target_user}' password"
      kind: account.enabled
      outcome: success
      severity: high
    - id: usermod.rename
      programs: [usermod]
      pattern: "change user name '{target_user}' to '{_}'"
      kind: account.changed
      outcome: success
      severity: medium
    - id: usermod.password
      programs: [usermod]
      pattern: "change user '{target_user}' password"
      kind: password.changed
      outcome: success
      severity: medium
    - id: usermod.group_renamed_member
      programs: [usermod]
      pattern: "change '{target_user}' to '{_}' in group '{group}'"
      kind: group.changed
      outcome: success
      severity: info
    - id: usermod.shadow_group_renamed_member
      programs: [usermod]
      pattern: "change '{target_user}' to '{_}' in shadow group '{group}'"
      kind: group.changed
      outcome: success
      severity: info
    - id: usermod.admin_renamed
      programs: [usermod]
      pattern: "change admin '{target_user}' to '{_}' in shadow group '{group}'"
      kind: group.changed
      outcome: success
      severity: info
    - id: usermod.change
      programs: [usermod]
      pattern: "change user '{target_user}' {_}"
      kind: account.changed
      outcome: success
      severity: medium
    - id: userdel.user
      programs: [userdel]
      pattern: "delete user '{target_user}'"
      kind: account.deleted
      outcome: success
      severity: high
    - id: userdel.group
      programs: [userdel]
      pattern: "removed group '{group}' owned by '{_}'"
      kind: group.deleted
      outcome: success
      severity: low
    - id: groupadd.group
      programs: [groupadd]
      pattern: "new group: name={group},{_}"
      kind: group.created
      outcome: success
      severity: medium
    - id: groupdel.group
      programs: [groupdel]
      pattern: "group '{group}' removed"
      kind: group.deleted
      outcome: success
      severity: medium
    - id: groupmod.group
      programs: [groupmod]
      pattern: "group changed in /etc/group (group {group}/{_})"
      kind: group.changed
      outcome: success
      severity: medium
    - id: gpasswd.member_added
      programs: [gpasswd]
      pattern: "user {target_user} added by {user} to group {group}"
      kind: group.member_added
      outcome: success
      severity: medium
    - id: gpasswd.member_removed
      programs: [gpasswd]
      pattern: "user {target_user} removed by {user} from group {group}"
      kind: group.member_removed
      outcome: success
      severity: medium
    - id: gpasswd.members_set
      programs: [gpasswd]
      pattern: "members of group {group} set by {user} to {_}"
      kind: group.changed
      outcome: success
      severity: medium
    - id: chsh.shell
      programs: [chsh]
      pattern: "changed user '{target_user}' shell to '{_}'"
      kind: account.changed
      outcome: success
      severity: medium
    - id: chfn.information
      programs: [chfn]
      pattern: "changed user '{target_user}' information"
      kind: account.changed
      outcome: success
      severity: low
    - id: userdel.shadow_group
      programs: [userdel]
      pattern: "removed shadow group '{group}' owned by '{_}'"
      kind: group.deleted
      outcome: success
      severity: info
    - id: userdel.user.legacy
      programs: [userdel]
      pattern: "delete user `{target_user}'"
      kind: account.deleted
      outcome: success
      severity: high
    - id: groupadd.group.files
      programs: [groupadd]
      pattern: "group added to {_}: name={group}, {_}"
      kind: group.created
      outcome: success
      severity: info
    - id: groupadd.group.files.gshadow
      programs: [groupadd]
      pattern: "group added to {_}: name={group}"
      kind: group.created
      outcome: success
      severity: info
    - id: groupdel.group.files
      programs: [groupdel]
      pattern: "group '{group}' removed from {_}"
      kind: group.deleted
      outcome: success
      severity: info
    - id: groupdel.group.legacy
      programs: [groupdel]
      pattern: "remove group `{group}'"
      kind: group.deleted
      outcome: success
      severity: medium
    - id: groupmod.group.passwd
      programs: [groupmod]
      pattern: "group changed in {_} (group {group}/{_}, {_})"
      kind: group.changed
      outcome: success
      severity: info
    - id: groupmod.group.gshadow
      programs: [groupmod]
      pattern: "group changed in {_} (group {group}, {_})"
      kind: group.changed
      outcome: success
      severity: info
    - id: gpasswd.group_password
      programs: [gpasswd]
      pattern: "password of group {group} changed by {user}"
      kind: group.changed
      outcome: success
      severity: medium
    - id: gpasswd.add_failed
      programs: [gpasswd]
      pattern: "{user} failed to add user {target_user} to group {group}: {_}"
      kind: group.member_added
      outcome: failure
      severity: medium
    - id: gpasswd.member_added.legacy
      programs: [gpasswd]
      pattern: "add member {target_user} to group {group} by {user}"
      kind: group.member_added
      outcome: success
      severity: high
    - id: gpasswd.member_removed.legacy
      programs: [gpasswd]
      pattern: "remove member {target_user} from group {group} by {user}"
      kind: group.member_removed
      outcome: success
      severity: medium
    - id: newgrp.switched
      programs: [newgrp, sg]
      pattern: "user '{user}' (login '{_}' on {_}) switched to group '{group}'"
      kind: privilege
      outcome: success
      severity: low
    - id: newgrp.invalid_password
      programs: [newgrp, sg]
      pattern: "Invalid password for group '{group}' from '{user}'"
      kind: privilege
      outcome: failure
      severity: medium
    - id: passwd.locked
      programs: [passwd]
      pattern: "password locked for '{target_user}'"
      kind: password.changed
      outcome: failure
      severity: medium
    - id: passwd.changed_by.legacy
      programs: [passwd]
      pattern: "password for `{target_user}' changed by `{user}'"
      kind: password.changed
      outcome: success
      severity: medium
    - id: passwd.incorrect_password
      programs: [passwd]
      pattern: "incorrect password for {target_user}"
      kind: password.changed
      outcome: failure
      severity: low
    - id: groupmod.renamed.legacy
      programs: [groupmod]
      pattern: "change group `{group}' to `{_}'"
      kind: group.changed
      outcome: success
      severity: medium
    - id: groupmod.gid.legacy
      programs: [groupmod]
      pattern: "change GID for `{group}' to {_}"
      kind: group.changed
      outcome: success
      severity: medium
    - id: gpasswd.group_password.legacy
      programs: [gpasswd]
      pattern: "change the password for group {group} by {user}"
      kind: group.changed
      outcome: success
      severity: medium
    - id: gpasswd.administrators_set
      programs: [gpasswd]
      pattern: "administrators of group {group} set by {user} to {_}"
      kind: group.changed
      outcome: success
      severity: high
    - id: gpasswd.password_removed
      programs: [gpasswd]
      pattern: "password of group {group} removed by {user}"
      kind: group.changed
      outcome: success
      severity: medium
    - id: gpasswd.access_restricted
      programs: [gpasswd]
      pattern: "access to group {group} restricted by {user}"
      kind: group.changed
      outcome: success
      severity: low
    - id: gpasswd.add_failed.in
      programs: [gpasswd]
      pattern: "{user} failed to add user {target_user} to group {group} in {_}"
      kind: group.member_added
      outcome: failure
      severity: medium
    - id: gpasswd.add_failed.bare
      programs: [gpasswd]
      pattern: "{user} failed to add user {target_user} to group {group}"
      kind: group.member_added
      outcome: failure
      severity: medium
    - id: gpasswd.remove_failed
      programs: [gpasswd]
      pattern: "{user} failed to remove user {target_user} from group {group}: {_}"
      kind: group.member_removed
      outcome: failure
      severity: medium
    - id: passwd.pam_failure.user
      programs: [passwd]
      pattern: "pam_unix(passwd:chauthtok): authentication failure; logname={_} uid={_} euid={_} tty={_} ruser={_} rhost={_}  user={target_user}"
      kind: password.changed
      outcome: failure
      severity: low
    - id: passwd.pam_failure
      programs: [passwd]
      pattern: "pam_unix(passwd:chauthtok): authentication failure; {_}"
      kind: password.changed
      outcome: failure
      severity: low
    - id: userdel.group.legacy
      programs: [userdel]
      pattern: "removed group `{group}' owned by `{_}'"
      kind: group.deleted
      outcome: success
      severity: medium
    - id: usermod.rename.legacy
      programs: [usermod]
      pattern: "change user name `{target_user}' to `{_}'"
      kind: account.changed
      outcome: success
      severity: medium
    - id: chsh.shell.legacy
      programs: [chsh]
      pattern: "changed user `{target_user}' shell to `{_}'"
      kind: account.changed
      outcome: success
      severity: medium
    - id: chfn.information.legacy
      programs: [chfn]
      pattern: "changed user `{target_user}' information"
      kind: account.changed
      outcome: success
      severity: low
    - id: newgrp.switched.legacy
      programs: [newgrp, sg]
      pattern: "user `{user}' (login `{_}' on {_}) switched to group `{group}'"
      kind: privilege
      outcome: success
      severity: low
    - id: gpasswd.remove_failed.in
      programs: [gpasswd]
      pattern: "{user} failed to remove user {target_user} from group {group} in {_}"
      kind: group.member_removed
      outcome: failure
      severity: medium
    - id: gpasswd.password_failed
      programs: [gpasswd]
      pattern: "{user} failed to change password of group {group}: {_}"
      kind: group.changed
      outcome: failure
      severity: medium
    - id: passwd.changed_by
      programs: [passwd]
      pattern: "password for '{target_user}' changed by '{user}'"
      kind: password.changed
      outcome: success
      severity: medium
    - id: passwd.busybox.changed_by
      programs: [passwd]
      pattern: "password for {target_user} changed by {user}"
      kind: password.changed
      outcome: success
      severity: medium
    - id: pam.password_changed
      programs: [passwd, chpasswd]
      pattern: "pam_unix({_}:chauthtok): password changed for {target_user}"
      kind: password.changed
      outcome: success
      severity: medium
    - id: chage.expiry
      programs: [chage]
      pattern: "changed password expiry for {target_user}"
      kind: account.changed
      outcome: success
      severity: low
    # ---- PAM failures of any other service, when they name a remote host ------------------
    - id: pam.faillock.locked
      programs: ["*"]
      pattern: "pam_faillock({_}): Consecutive login failures for user {target_user} account temporarily locked"
      kind: account.locked
      outcome: success
      severity: high
    - id: pam.tally2.deny
      programs: ["*"]
      pattern: "pam_tally2({_}): user {target_user} ({_}) tally {_}, deny {_}"
      kind: account.locked
      outcome: success
      severity: high
    - id: pam.tally2.time_limit
      programs: ["*"]
      pattern: "pam_tally2({_}): user {target_user} ({_}) has time limit [{_}] since last failure."
      kind: account.locked
      outcome: success
      severity: medium
    - id: pam.tally.deny
      programs: ["*"]
      pattern: "pam_tally({_}): user {target_user} ({_}) tally {_}, deny {_}"
      kind: account.locked
      outcome: success
      severity: high
    - id: pam.succeed_if
      programs: ["*"]
      pattern: "pam_succeed_if({_}): requirement \"{_}\" not met by user \"{user}\""
      kind: login
      outcome: failure
      severity: low
    - id: pam.access.denied
      programs: ["*"]
      pattern: "pam_access({_}): access denied for user `{user}' from `{source_ip}'"
      kind: login
      outcome: failure
      severity: low
    - id: pam.sss.auth_failure
      programs: ["*"]
      pattern: "pam_sss({_}:auth): authentication failure; logname={_} uid={_} euid={_} tty={_} ruser={_} rhost={source_ip} user={user:greedy}"
      kind: login
      outcome: failure
      severity: low
    - id: pam.sss.auth_failure.unknown_user
      programs: ["*"]
      pattern: "pam_sss({_}:auth): authentication failure; logname={_} uid={_} euid={_} tty={_} ruser={_} rhost={source_ip}"
      kind: login
      outcome: failure
      severity: low
    - id: pam.sss.auth_success
      programs: ["*"]
      pattern: "pam_sss({_}:auth): authentication success; logname={_} uid={_} euid={_} tty={_} ruser={_} rhost={source_ip} user={user:greedy}"
      kind: login
      outcome: success
      severity: info
    - id: pam.sss.received
      programs: ["*"]
      pattern: "pam_sss({_}:auth): received for user {user}: {_} ({_})"
      kind: login
      outcome: failure
      severity: info
    - id: pam.sss.access_denied
      programs: ["*"]
      pattern: "pam_sss({_}:account): Access denied for user {user}: {_}"
      kind: login
      outcome: failure
      severity: low
    - id: pam.securetty
      programs: ["*"]
      pattern: "pam_securetty({_}): access denied: tty '{_}' is not secure !"
      kind: login
      outcome: failure
      severity: low
    - id: pam.listfile
      programs: ["*"]
      pattern: "pam_listfile({_}): Refused user {user} for service {_}"
      kind: login
      outcome: failure
      severity: low
    - id: pam.shells
      programs: ["*"]
      pattern: "pam_shells({_}): User has an invalid shell '{_}'"
      kind: login
      outcome: failure
      severity: low
    - id: pam.limits
      programs: ["*"]
      pattern: "pam_limits({_}): Too many logins (max {_}) for {user}"
      kind: login
      outcome: failure
      severity: low
    - id: pam.lastlog.inactive
      programs: ["*"]
      pattern: "pam_lastlog({_}): user {user} inactive for {_} days - denied"
      kind: login
      outcome: failure
      severity: low
    - id: pam.unix.account_expired
      programs: ["*"]
      pattern: "pam_unix({_}:account): account {user} has expired (account expired)"
      kind: login
      outcome: failure
      severity: low
    - id: unix_chkpwd.failed
      programs: [unix_chkpwd]
      pattern: "password check failed for user ({user})"
      kind: login
      outcome: failure
      severity: low
    - id: dropbear.password_success.lowercase
      programs: [dropbear]
      pattern: "password auth succeeded for '{user:greedy}' from {source_ip}:{source_port}"
      kind: login
      outcome: success
      severity: low
      set: {method: password}
    - id: dropbear.invalid_shell.lowercase
      programs: [dropbear]
      pattern: "user '{user:greedy}' has invalid shell, rejected"
      kind: login
      outcome: failure
      severity: low
    - id: dropbear.nonexistent_user.bare
      programs: [dropbear]
      pattern: "Login attempt for nonexistent user"
      kind: login
      outcome: failure
      severity: low
      set: {method: password}
    - id: dropbear.exit_before_auth.user.legacy
      programs: [dropbear]
      pattern: "Exit before auth (user '{user:greedy}', {_} fails): {_} from {source_ip}:{source_port}"
      kind: login
      outcome: failure
      severity: info
    - id: dropbear.exit.legacy
      programs: [dropbear]
      pattern: "Exit ({user}): {_}"
      kind: logout
      outcome: success
      severity: info
    - id: dropbear.nonexistent_user
      programs: [dropbear]
      pattern: "Login attempt for nonexistent user from {source_ip}:{source_port}"
      kind: login
      outcome: failure
      severity: low
      set: {method: password}
    - id: dropbear.bad_password
      programs: [dropbear]
      pattern: "Bad password attempt for '{user:greedy}' from {source_ip}:{source_port}"
      kind: login
      outcome: failure
      severity: low
      set: {method: password}
    - id: dropbear.bad_pam_password
      programs: [dropbear]
      pattern: "Bad PAM password attempt for '{user:greedy}' from {source_ip}:{source_port}"
      kind: login
      outcome: failure
      severity: low
      set: {method: password}
    - id: dropbear.pubkey_bad_signature
      programs: [dropbear]
      pattern: "Pubkey auth bad signature for '{user:greedy}' with {_} from {source_ip}:{source_port}"
      kind: login
      outcome: failure
      severity: low
      set: {method: publickey}
    - id: dropbear.password_success
      programs: [dropbear]
      pattern: "Password auth succeeded for '{user:greedy}' from {source_ip}:{source_port}"
      kind: login
      outcome: success
      severity: low
      set: {method: password}
    - id: dropbear.pam_password_success
      programs: [dropbear]
      pattern: "PAM password auth succeeded for '{user:greedy}' from {source_ip}:{source_port}"
      kind: login
      outcome: success
      severity: low
      set: {method: password}
    - id: dropbear.pubkey_success
      programs: [dropbear]
      pattern: "Pubkey auth succeeded for '{user:greedy}' with {_} from {source_ip}:{source_port}"
      kind: login
      outcome: success
      severity: low
      set: {method: publickey}
    - id: dropbear.exit_before_auth.user
      programs: [dropbear]
      pattern: "Exit before auth from <{source_ip}:{source_port}>: (user '{user:greedy}', {_} fails): {_}"
      kind: login
      outcome: failure
      severity: info
    - id: dropbear.exit_before_auth.max_tries
      programs: [dropbear]
      pattern: "Exit before auth from <{source_ip}:{source_port}>: Max auth tries reached - user '{_}'"
      kind: login
      outcome: failure
      severity: info
    - id: dropbear.exit
      programs: [dropbear]
      pattern: "Exit ({user}) from <{source_ip}:{source_port}>: {_}"
      kind: logout
      outcome: success
      severity: info
    - id: dropbear.root_rejected
      programs: [dropbear]
      pattern: "root login rejected"
      kind: login
      outcome: failure
      severity: low
      set: {user: root}
    - id: dropbear.account_locked
      programs: [dropbear]
      pattern: "User account '{user:greedy}' is locked"
      kind: login
      outcome: failure
      severity: low
    - id: dropbear.invalid_shell
      programs: [dropbear]
      pattern: "User '{user:greedy}' has invalid shell, rejected"
      kind: login
      outcome: failure
      severity: low
    - id: dropbear.group_restricted
      programs: [dropbear]
      pattern: "Logins are restricted to the group {_} but user '{user:greedy}' is not a member"
      kind: login
      outcome: failure
      severity: low
    - id: pam.auth_failure.local
      programs: ["*"]
      pattern: "pam_unix({_}:auth): authentication failure; logname={_} uid={_} euid={_} tty={_} ruser={_} rhost=  user={user:greedy}"
      kind: login
      outcome: failure
      severity: low
      set: {method: pam}
    - id: pam.more_failures
      programs: ["*"]
      pattern: "PAM {_} more authentication failure{_}; logname={_} uid={_} euid={_} tty={_} ruser={_} rhost={_} user={user:greedy}"
      kind: login
      outcome: failure
      severity: low
    - id: pam.more_failures.unknown_user
      programs: ["*"]
      pattern: "PAM {_} more authentication failure{_}; logname={_} uid={_} euid={_} tty={_} ruser={_} rhost={_}"
      kind: login
      outcome: failure
      severity: low
    - id: pam.check_pass.named
      programs: ["*"]
      pattern: "pam_unix({_}:auth): check pass; user ({user}) unknown"
      kind: login
      outcome: failure
      severity: low
    - id: pam.check_pass
      programs: ["*"]
      pattern: "pam_unix({_}:auth): check pass; user unknown"
      kind: login
      outcome: failure
      severity: low
    - id: pam.bad_username
      programs: ["*"]
      pattern: "pam_unix({_}:auth): bad username [{_}]"
      kind: login
      outcome: failure
      severity: low
    - id: pam.unix.account_expired.password
      programs: ["*"]
      pattern: "pam_unix({_}:account): account {user} has expired (failed to change password)"
      kind: login
      outcome: failure
      severity: low
    - id: pam.tally.time_limit
      programs: ["*"]
      pattern: "pam_tally({_}): user {target_user} ({_}) has time limit [{_}] since last failure."
      kind: account.locked
      outcome: success
      severity: medium
    - id: pam.sss.password_change_failed
      programs: ["*"]
      pattern: "pam_sss({_}:chauthtok): Password change failed for user {target_user}: {_}"
      kind: password.changed
      outcome: failure
      severity: low
    - id: pam.password_changed.nis
      programs: ["*"]
      pattern: "pam_unix({_}:chauthtok): password changed for {target_user} on {_}"
      kind: password.changed
      outcome: success
      severity: low
    - id: pam.password_changed.any
      programs: ["*"]
      pattern: "pam_unix({_}:chauthtok): password changed for {target_user}"
      kind: password.changed
      outcome: success
      severity: low
    - id: pam.password_not_changed
      programs: ["*"]
      pattern: "pam_unix({_}:chauthtok): password not changed for {target_user} on {_}"
      kind: password.changed
      outcome: failure
      severity: low
    - id: pam.display_manager.session_opened
      programs: [gdm-password, gdm-autologin, lightdm, sddm, xdm]
      pattern: "pam_unix({_}:session): session opened for user {user}(uid={_}) by {_}"
      kind: login
      outcome: success
      severity: low
    - id: pam.display_manager.session_opened.legacy
      programs: [gdm-password, gdm-autologin, lightdm, sddm, xdm]
      pattern: "pam_unix({_}:session): session opened for user {user} by {_}"
      kind: login
      outcome: success
      severity: low
    - id: pam.display_manager.session_closed
      programs: [gdm-password, gdm-autologin, lightdm, sddm, xdm]
      pattern: "pam_unix({_}:session): session closed for user {user}"
      kind: logout
      outcome: success
      severity: info
    - id: pam.auth_failure
      programs: ["*"]
      pattern: "pam_unix({_}:auth): authentication failure; logname={_} uid={_} euid={_} tty={_} ruser={_} rhost={source_ip}  user={user}"
      kind: login
      outcome: failure
      severity: low
      require: [source_ip]
      set: {method: pam}
    - id: pam.auth_failure.one_space
      programs: ["*"]
      pattern: "pam_unix({_}:auth): authentication failure; logname={_} uid={_} euid={_} tty={_} ruser={_} rhost={source_ip} user={user}"
      kind: login
      outcome: failure
      severity: low
      require: [source_ip]
      set: {method: pam}
    - id: pam.auth_failure.unknown_user
      programs: ["*"]
      pattern: "pam_unix({_}:auth): authentication failure; logname={_} uid={_} euid={_} tty={_} ruser={_} rhost={source_ip}"
      kind: login
      outcome: failure
      severity: low
      require: [source_ip]
      set: {method: pam}
    """#
}
