"""Accounts: who may log in and act, by concern.  Import from the concern's module.

- `signup`      sign-up, the operator's verification of an organisation, email confirmation
- `login`       password rules, per-account throttling, the password step, sessions, log out everywhere
- `two_factor`  TOTP enrolment and codes, recovery codes: shared by senders' users and support agents
- `members`     an organisation's users, their roles, (de)activation
- `invitations` an admin invites someone; the invitee joins with the emailed link
- `links`       emailed single-use links: tokens, the delivery job's work, the sweeper
- `tokens`      API tokens
- `errors`      one exception per refusal

Agents (the service's own staff) are `webapp.support.agents`, built on `login` and `two_factor`.
"""
