/** The roles, access settings and grant-reading policy the just-in-time access tests run under. */

export const GRANTS_YAML = `
identity:
  roles:
    - group: security
      role: auditor
    - group: oncall
      role: approver
    - group: dba
      role: approver
    - group: ic
      role: approver
    - group: engineering
      role: user
      connections: [openai, other]
approvals:
  breakGlassGroups: [ic]
  access:
    approvers: [oncall]
    maxDuration: 4h
    timeout: 30m
    connections:
      other:
        approvers: [dba]
        required: 2
        maxDuration: 1h
`;

/** Nothing reaches openai or other without a live grant of the caller for that connection. */
export const GRANTS_POLICY = `
policy:
  rules:
    - name: needs-a-grant
      match: { connections: [openai, other] }
      when: "size(grants) == 0"
      action: deny
      reason: ask for access first (gatehouse access request)
    - name: allow-with-a-grant
      action: allow
`;

/** PostgreSQL: reads need nothing, writes to prod-db need a live grant. */
export const WRITES_NEED_A_GRANT = `
policy:
  rules:
    - name: writes-need-a-grant
      match: { connections: [prod-db] }
      when: "request.sql.kinds.exists(k, k in ['insert', 'update', 'delete']) && size(grants) == 0"
      action: deny
      reason: writes to prod-db need a just-in-time grant (gatehouse access request)
    - name: allow-the-rest
      action: allow
`;

export const ACCESS_YAML = `
identity:
  roles:
    - group: oncall
      role: approver
    - group: engineering
      role: user
      connections: [prod-db]
approvals:
  access:
    approvers: [oncall]
    maxDuration: 2h
`;
