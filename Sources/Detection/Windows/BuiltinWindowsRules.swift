/// The built-in Windows rules: Security and System events of account activity, in the rule
/// format of docs/rules.md (`event_id` rules). The first rule that applies to an event wins.
///
/// Logons by machine accounts (`*$`), `ANONYMOUS LOGON`, the built-in service accounts and
/// the desktop window manager's sessions (`DWM-*`, `UMFD-*`), and service, batch and system
/// logons (types 5, 4, 0), are left out by default: Windows writes thousands of them and none
/// is a person. A rule file that redefines `windows.logon` changes that.
enum BuiltinWindowsRules {
    static let yaml = #"""
    rules:
    # ---- logons ------------------------------------------------------------------------
    - id: windows.logon
      event_id: 4624
      channel: Security
      unless:
        LogonType: ["0", "4", "5"]
        TargetUserName: ["*$", "ANONYMOUS LOGON", "SYSTEM", "LOCAL SERVICE", "NETWORK SERVICE", "DWM-*", "UMFD-*"]
      kind: login
      outcome: success
      severity: low
      map:
        user: [TargetUserName]
        source_ip: [IpAddress]
        source_port: [IpPort]
        logon_type: [LogonType]
        method: [AuthenticationPackageName]
    # Every failure is an attempt: it has a method (the authentication package, or password).
    - id: windows.logon.failed
      event_id: 4625
      channel: Security
      kind: login
      outcome: failure
      severity: low
      map:
        user: [TargetUserName]
        source_ip: [IpAddress]
        source_port: [IpPort]
        logon_type: [LogonType]
        method: [AuthenticationPackageName]
      set: {method: password}
    - id: windows.logoff
      event_id: [4634, 4647]
      channel: Security
      unless:
        LogonType: ["0", "4", "5"]
        TargetUserName: ["*$", "ANONYMOUS LOGON", "SYSTEM", "LOCAL SERVICE", "NETWORK SERVICE", "DWM-*", "UMFD-*"]
      kind: logout
      severity: info
      map: {user: [TargetUserName], logon_type: [LogonType]}
    # ---- privileges ----------------------------------------------------------------------
    # A logon with explicit credentials (runas, a scheduled task with a password, PsExec).
    - id: windows.explicit_credentials
      event_id: 4648
      channel: Security
      unless:
        TargetUserName: ["*$", "ANONYMOUS LOGON"]
      kind: privilege
      outcome: success
      severity: low
      map: {user: [SubjectUserName], target_user: [TargetUserName], source_ip: [IpAddress], source_port: [IpPort]}
      set: {method: explicit-credentials}
    # Special privileges (an administrator's logon), not the system's own accounts.
    - id: windows.special_privileges
      event_id: 4672
      channel: Security
      unless:
        SubjectUserSid: ["S-1-5-18", "S-1-5-19", "S-1-5-20"]
        SubjectUserName: ["*$", "DWM-*", "UMFD-*"]
      kind: privilege
      outcome: success
      severity: info
      map: {user: [SubjectUserName], target_user: [SubjectUserName]}
      set: {method: special-privileges}
    # ---- accounts ------------------------------------------------------------------------
    - id: windows.account.created
      event_id: 4720
      channel: Security
      kind: account.created
      outcome: success
      severity: medium
      map: {user: [SubjectUserName], target_user: [TargetUserName, SamAccountName]}
    - id: windows.account.enabled
      event_id: 4722
      channel: Security
      kind: account.enabled
      outcome: success
      severity: medium
      map: {user: [SubjectUserName], target_user: [TargetUserName]}
    - id: windows.password.changed
      event_id: 4723
      channel: Security
      kind: password.changed
      severity: low
      map: {user: [SubjectUserName], target_user: [TargetUserName]}
    - id: windows.password.reset
      event_id: 4724
      channel: Security
      kind: password.changed
      severity: medium
      map: {user: [SubjectUserName], target_user: [TargetUserName]}
      set: {method: reset}
    - id: windows.account.disabled
      event_id: 4725
      channel: Security
      kind: account.disabled
      outcome: success
      severity: low
      map: {user: [SubjectUserName], target_user: [TargetUserName]}
    - id: windows.account.deleted
      event_id: 4726
      channel: Security
      kind: account.deleted
      outcome: success
      severity: medium
      map: {user: [SubjectUserName], target_user: [TargetUserName]}
    - id: windows.account.changed
      event_id: 4738
      channel: Security
      kind: account.changed
      outcome: success
      severity: low
      map: {user: [SubjectUserName], target_user: [TargetUserName]}
    - id: windows.account.locked
      event_id: 4740
      channel: Security
      kind: account.locked
      severity: medium
      map: {user: [SubjectUserName], target_user: [TargetUserName]}
    - id: windows.account.unlocked
      event_id: 4767
      channel: Security
      kind: account.unlocked
      outcome: success
      severity: medium
      map: {user: [SubjectUserName], target_user: [TargetUserName]}
    # ---- groups: global (4728/4729), local (4732/4733), universal (4756/4757) -----------
    # The group is TargetUserName; the member its distinguished name, or only its SID (local
    # groups), which the detector names from an earlier account event when it can.
    - id: windows.group.member_added
      event_id: [4728, 4732, 4756]
      channel: Security
      kind: group.member_added
      outcome: success
      severity: medium
      map: {user: [SubjectUserName], target_user: [MemberName, MemberSid], group: [TargetUserName]}
    - id: windows.group.member_removed
      event_id: [4729, 4733, 4757]
      channel: Security
      kind: group.member_removed
      outcome: success
      severity: low
      map: {user: [SubjectUserName], target_user: [MemberName, MemberSid], group: [TargetUserName]}
    # ---- audit logs ----------------------------------------------------------------------
    - id: windows.audit.cleared
      event_id: 1102
      channel: Security
      kind: audit.cleared
      outcome: success
      severity: critical
      map: {user: [SubjectUserName]}
    - id: windows.log.cleared
      event_id: 104
      channel: System
      provider: Microsoft-Windows-Eventlog
      kind: audit.cleared
      outcome: success
      severity: high
      map: {user: [SubjectUserName]}
    # ---- persistence -----------------------------------------------------------------------
    - id: windows.service.installed.security
      event_id: 4697
      channel: Security
      kind: service.installed
      outcome: success
      severity: high
      map: {user: [SubjectUserName]}
    - id: windows.service.installed
      event_id: 7045
      channel: System
      provider: Service Control Manager
      kind: service.installed
      outcome: success
      severity: high
      map: {user: [UserID]}
    - id: windows.task.created
      event_id: 4698
      channel: Security
      kind: task.created
      outcome: success
      severity: medium
      map: {user: [SubjectUserName]}
    """#
}
