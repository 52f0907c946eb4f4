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
      pattern: "Accepted keyboard-interactive/pam for {user:greedy} from {source_ip} port {source_port} ssh2{_}"
      kind: login
      outcome: success
      severity: low
      set: {method: keyboard-interactive}
    - id: sshd.accepted
      programs: [sshd, sshd-session]
      pattern: "Accepted {method} for {user:greedy} from {source_ip} port {source_port} ssh2{_}"
      kind: login
      outcome: success
      severity: low
    - id: sshd.failed.keyboard_interactive.invalid_user
      programs: [sshd, sshd-session]
      pattern: "Failed keyboard-interactive/pam for invalid user {user:greedy} from {source_ip} port {source_port} ssh2{_}"
      kind: login
      outcome: failure
      severity: low
      set: {method: keyboard-interactive}
    - id: sshd.failed.keyboard_interactive
      programs: [sshd, sshd-session]
      pattern: "Failed keyboard-interactive/pam for {user:greedy} from {source_ip} port {source_port} ssh2{_}"
      kind: login
      outcome: failure
      severity: low
      set: {method: keyboard-interactive}
    - id: sshd.failed.invalid_user
      programs: [sshd, sshd-session]
      pattern: "Failed {method} for invalid user {user:greedy} from {source_ip} port {source_port} ssh2{_}"
      kind: login
      outcome: failure
      severity: low
    - id: sshd.failed
      programs: [sshd, sshd-session]
      pattern: "Failed {method} for {user:greedy} from {source_ip} port {source_port} ssh2{_}"
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
    - id: sshd.max_auth_tries.invalid_user
      programs: [sshd, sshd-session]
      pattern: "error: maximum authentication attempts exceeded for invalid user {user:greedy} from {source_ip} port {source_port} ssh2 [preauth]"
      kind: login
      outcome: failure
      severity: medium
    - id: sshd.max_auth_tries
      programs: [sshd, sshd-session]
      pattern: "error: maximum authentication attempts exceeded for {user:greedy} from {source_ip} port {source_port} ssh2 [preauth]"
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
    - id: sshd.pam_more_failures.unknown_user
      programs: [sshd, sshd-session]
      pattern: "PAM {count} more authentication failure{_}; logname={_} uid={_} euid={_} tty={_} ruser={_} rhost={source_ip}"
      kind: login
      outcome: failure
      severity: low
    - id: sshd.break_in.reverse_mapping
      programs: [sshd, sshd-session]
      pattern: "reverse mapping checking getaddrinfo for {_} [{source_ip}] failed - POSSIBLE BREAK-IN ATTEMPT!"
      kind: login
      outcome: failure
      severity: low
    - id: sshd.break_in.address_mapping
      programs: [sshd, sshd-session]
      pattern: "Address {source_ip} maps to {_}, but this does not map back to the address - POSSIBLE BREAK-IN ATTEMPT!"
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
    - id: sshd.logout
      programs: [sshd, sshd-session]
      pattern: "Disconnected from user {user:greedy} {source_ip} port {source_port}"
      kind: logout
      outcome: success
      severity: info
    # ---- su and runuser ---------------------------------------------------------------
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
    - id: runuser.session
      programs: [runuser]
      pattern: "pam_unix(runuser{_}:session): session opened for user {target_user}(uid={_}) by {user}(uid={_})"
      kind: privilege
      outcome: success
      severity: info
    # ---- sudo -------------------------------------------------------------------------
    - id: sudo.not_in_sudoers
      programs: [sudo]
      pattern: "{user} : user NOT in sudoers ; {_}USER={target_user} ; COMMAND={_}"
      kind: privilege
      outcome: failure
      severity: high
    - id: sudo.incorrect_password
      programs: [sudo]
      pattern: "{user} : {count} incorrect password attempt{_}USER={target_user} ; COMMAND={_}"
      kind: privilege
      outcome: failure
      severity: medium
      set: {method: password}
    - id: sudo.command
      programs: [sudo]
      pattern: "{user} : {_}USER={target_user} ; {_}COMMAND={_}"
      kind: privilege
      outcome: success
      severity: low
    - id: sudo.pam_failure
      programs: [sudo]
      pattern: "pam_unix(sudo{_}:auth): authentication failure; logname={_} uid={_} euid={_} tty={_} ruser={ruser} rhost={_}  user={pam_user}"
      kind: privilege
      outcome: failure
      severity: low
      map: {user: [ruser, pam_user]}
    # ---- login and systemd-logind ---------------------------------------------------------
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
    - id: logind.removed_session
      programs: [systemd-logind]
      pattern: "Removed session {_}."
      kind: logout
      outcome: success
      severity: info
    # ---- accounts (shadow utilities) ------------------------------------------------------
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
      kind: account.locked
      outcome: success
      severity: medium
    - id: usermod.unlock
      programs: [usermod]
      pattern: "unlock user '{target_user}' password"
      kind: account.unlocked
      outcome: success
      severity: high
    - id: usermod.rename
      programs: [usermod]
      pattern: "change user name '{target_user}' to '{_}'"
      kind: account.changed
      outcome: success
      severity: medium
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
    - id: passwd.changed_by
      programs: [passwd]
      pattern: "password for '{target_user}' changed by '{user}'"
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
    - id: pam.auth_failure
      programs: ["*"]
      pattern: "pam_unix({_}:auth): authentication failure; logname={_} uid={_} euid={_} tty={_} ruser={_} rhost={source_ip}  user={user}"
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
