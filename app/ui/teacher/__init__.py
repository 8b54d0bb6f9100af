"""The teacher's side: sign-in, the review queue, the audit log, exchanges and student data."""
