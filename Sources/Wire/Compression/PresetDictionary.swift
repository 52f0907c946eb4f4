/// Preset deflate dictionaries, identified by a byte in the frame header.
///
/// A dictionary is part of the protocol: once released, its bytes never change. A better one
/// gets a new id; decoders keep every id they have ever known. Deflate favours the end of a
/// dictionary (shorter distances), so the most common strings come last.
public struct PresetDictionary: Sendable, Hashable {
    public let id: UInt8
    public let bytes: [UInt8]

    /// No dictionary: id 0.
    public static let none = PresetDictionary(id: 0, bytes: [])

    /// `auth-v1`: typical Linux auth-log text and event vocabulary (id 1).
    public static let authV1 = PresetDictionary(id: 1, bytes: Array(authV1Text.utf8))

    /// Every dictionary this version of Wire can decode.
    public static func known(id: UInt8) -> PresetDictionary? {
        switch id {
        case 0: PresetDictionary.none
        case 1: authV1
        default: nil
        }
    }

    private static let authV1Text = """
        <Event xmlns='http://schemas.microsoft.com/win/2004/08/events/event'><System><Provider Name='Microsoft-Windows-Security-Auditing' Guid='{54849625-5478-4994-a5ba-3e3b0328c30d}'/><EventID>4624</EventID><Version>2</Version><Level>0</Level><Task>12544</Task><Opcode>0</Opcode><Keywords>0x8020000000000000</Keywords><TimeCreated SystemTime='<EventRecordID><Correlation/><Execution ProcessID='Thread<Channel>Security</Channel><Computer><Security/></System><EventData><Data Name='SubjectUserSid'>S-1-5-18</Data><Data Name='SubjectUserName'><Data Name='SubjectDomainName'>WORKGROUP<Data Name='SubjectLogonId'>0x3e7<Data Name='TargetUserSid'><Data Name='TargetUserName'>Administrator<Data Name='TargetDomainName'><Data Name='LogonType'>3<Data Name='IpAddress'><Data Name='IpPort'><Data Name='WorkstationName'></EventData></Event>
        systemd-logind: New session 3 of user root. Removed session 3. Session 3 logged out. Waiting for processes to exit.
        login: FAILED LOGIN 1 FROM tty1 FOR root, Authentication failure pam_unix(login:session): session opened for user root(uid=0) by LOGIN(uid=0) ROOT LOGIN  on '/dev/tty1'
        chage: changed password expiry for chpasswd: pam_unix(chpasswd:chauthtok): password changed for passwd: pam_unix(passwd:chauthtok): password changed for
        groupadd: group added to /etc/group: name=developers, GID=1001 groupadd: group added to /etc/gshadow: name=developers new group: name=developers, GID=1001
        groupdel: group 'developers' removed from /etc/group groupdel: group 'developers' removed from /etc/gshadow groupmod: group changed in /etc/group (group developers/1001, new name: devs)
        gpasswd: user bob added by root to group sudo gpasswd: user bob removed by root from group sudo
        userdel: delete user 'bob' userdel: removed group 'bob' owned by 'bob' userdel: removed shadow group 'bob' owned by 'bob'
        usermod: add 'bob' to group 'sudo' usermod: add 'bob' to shadow group 'sudo' usermod: lock user 'bob' password usermod: unlock user 'bob' password usermod: change user 'bob' shell from '/bin/sh' to '/bin/bash'
        useradd: new group: name=bob, GID=1001 useradd: new user: name=bob, UID=1001, GID=1001, home=/home/bob, shell=/bin/bash, from=/dev/pts/0
        su: (to root) alice on pts/0 su: pam_unix(su:session): session opened for user root(uid=0) by alice(uid=1000) su: FAILED SU (to root) alice on pts/0 su: pam_unix(su:auth): authentication failure; logname=alice uid=1000 euid=0 tty=/dev/pts/0 ruser=alice rhost=  user=root
        runuser: pam_unix(runuser:session): session opened for user nobody(uid=65534) by (uid=0) pam_unix(runuser:session): session closed for user nobody
        sudo: pam_unix(sudo:auth): authentication failure; logname=alice uid=1000 euid=0 tty=/dev/pts/0 ruser=alice rhost=  user=alice sudo:    alice : 3 incorrect password attempts ; TTY=pts/0 ; PWD=/home/alice ; USER=root ; COMMAND=/bin/bash
        sudo:      bob : user NOT in sudoers ; TTY=pts/1 ; PWD=/home/bob ; USER=root ; COMMAND=/usr/bin/id
        sudo:    alice : TTY=pts/0 ; PWD=/home/alice ; USER=root ; COMMAND=/usr/bin/systemctl restart ssh pam_unix(sudo:session): session opened for user root(uid=0) by alice(uid=1000) pam_unix(sudo:session): session closed for user root
        sshd: error: maximum authentication attempts exceeded for root from 203.0.113.9 port 40022 ssh2 [preauth] Disconnecting authenticating user root 203.0.113.9 port 40022: Too many authentication failures [preauth]
        sshd: reverse mapping checking getaddrinfo for host.example.com [203.0.113.9] failed - POSSIBLE BREAK-IN ATTEMPT! ROOT LOGIN REFUSED FROM 203.0.113.9 port 40022
        sshd: User root from 203.0.113.9 not allowed because not listed in AllowUsers User bob from 203.0.113.9 not allowed because listed in DenyUsers
        sshd: PAM 2 more authentication failures; logname= uid=0 euid=0 tty=ssh ruser= rhost=203.0.113.9  user=root
        sshd: Received disconnect from 203.0.113.9 port 40022:11: Bye Bye [preauth] Disconnected from authenticating user root 203.0.113.9 port 40022 [preauth]
        sshd: Connection closed by invalid user admin 203.0.113.9 port 40022 [preauth] Disconnected from invalid user admin 203.0.113.9 port 40022 [preauth]
        sshd: pam_unix(sshd:session): session opened for user root(uid=0) by (uid=0) pam_unix(sshd:session): session closed for user root Disconnected from user root 203.0.113.9 port 40022
        sshd: Accepted keyboard-interactive/pam for root from 203.0.113.9 port 40022 ssh2 Accepted publickey for root from 203.0.113.9 port 40022 ssh2: ED25519 SHA256: RSA SHA256:
        sshd: Failed none for invalid user admin from 203.0.113.9 port 40022 ssh2
        sshd: Invalid user admin from 203.0.113.9 port 40022 input_userauth_request: invalid user admin [preauth]
        sshd: pam_unix(sshd:auth): check pass; user unknown pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=203.0.113.9  user=root
        2026-11-29T16:10:15.123456+00:00 host sshd[1234]: Nov 29 16:10:15 host sshd[1234]: <38>1 2026-11-29T16:10:15.123456+00:00 host sshd 1234 - - 
        info low medium high critical success failure privilege account.created account.changed account.deleted account.locked account.unlocked password.changed group.member_added group.member_removed
        sshd-session sshd publickey password login success failure Failed password for invalid user admin from 203.0.113.9 port 40022 ssh2 Failed password for root from 203.0.113.9 port 40022 ssh2 Accepted password for root from 203.0.113.9 port 40022 ssh2
        """
}
