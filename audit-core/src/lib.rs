//! AuditStore's verifiable formats (pure: no I/O, no async). Its contents land with the audit-core issue.
