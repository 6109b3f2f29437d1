/** The roles, break-glass group and approve rules the end-to-end approval tests run under. */

export const APPROVALS_YAML = `
identity:
  roles:
    - group: platform-admins
      role: admin
    - group: security
      role: auditor
    - group: oncall
      role: approver
    - group: sre
      role: approver
    - group: ic
      role: approver
    - group: engineering
      role: user
      connections: [openai, other]
approvals:
  breakGlassGroups: [ic]
`;

export const APPROVALS_POLICY = `
policy:
  rules:
    - name: two-person
      match: { connections: [other] }
      action: approve
      approvers: [oncall, sre]
      required: 2
      wait: 10m
      timeout: 15m
    - name: hold-chat
      match: { connections: [openai] }
      action: approve
      approvers: [oncall]
      wait: 10m
      timeout: 15m
`;
