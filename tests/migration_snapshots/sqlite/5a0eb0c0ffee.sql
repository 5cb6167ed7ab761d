-- Revision 5a0eb0c0ffee as released (today's migrations/), sqlite.
-- Written by `python -m tests.migration_snapshots`: the schema a database migrated to this revision
-- holds, replayed by tests/test_migration_history.py.  Never edit: released migrations are history.
CREATE TABLE access_links (
	id VARCHAR(36) NOT NULL, 
	letter_id VARCHAR(36) NOT NULL, 
	token_hash VARCHAR(64) NOT NULL, 
	created_at DATETIME NOT NULL, 
	CONSTRAINT fk_access_links_letter_id_letters FOREIGN KEY(letter_id) REFERENCES letters (id), 
	CONSTRAINT pk_access_links PRIMARY KEY (id), 
	CONSTRAINT uq_access_links_token_hash UNIQUE (token_hash)
);
CREATE TABLE agent_audit_log (
	id VARCHAR(36) NOT NULL, 
	agent_id VARCHAR(36) NOT NULL, 
	action VARCHAR(40) NOT NULL, 
	letter_id VARCHAR(36), 
	reason VARCHAR(500), 
	at DATETIME NOT NULL, 
	details JSON NOT NULL, 
	CONSTRAINT fk_agent_audit_log_agent_id_agents FOREIGN KEY(agent_id) REFERENCES agents (id), 
	CONSTRAINT fk_agent_audit_log_letter_id_letters FOREIGN KEY(letter_id) REFERENCES letters (id), 
	CONSTRAINT pk_agent_audit_log PRIMARY KEY (id)
);
CREATE TABLE agents (
	id VARCHAR(36) NOT NULL, 
	email VARCHAR(254) NOT NULL, 
	password_hash VARCHAR(255) NOT NULL, 
	is_operator_admin BOOLEAN DEFAULT 0 NOT NULL, 
	is_active BOOLEAN DEFAULT 1 NOT NULL, 
	created_at DATETIME NOT NULL, 
	last_login_at DATETIME, 
	session_epoch INTEGER DEFAULT '0' NOT NULL, 
	login_failures INTEGER DEFAULT '0' NOT NULL, 
	login_failures_since DATETIME, 
	login_locked_until DATETIME, 
	totp_enabled_at DATETIME, 
	totp_key_id VARCHAR(16), 
	totp_wrapped_key BLOB, 
	totp_nonce BLOB, 
	totp_ciphertext BLOB, 
	totp_last_timestep INTEGER, 
	totp_failures INTEGER DEFAULT '0' NOT NULL, 
	totp_failures_since DATETIME, 
	totp_locked_until DATETIME, 
	CONSTRAINT pk_agents PRIMARY KEY (id), 
	CONSTRAINT uq_agents_email UNIQUE (email)
);
CREATE TABLE alembic_version (
	version_num VARCHAR(32) NOT NULL, 
	CONSTRAINT alembic_version_pkc PRIMARY KEY (version_num)
);
CREATE TABLE api_tokens (
	id VARCHAR(36) NOT NULL, 
	user_id VARCHAR(36) NOT NULL, 
	name VARCHAR(100) NOT NULL, 
	token_hash VARCHAR(64) NOT NULL, 
	prefix VARCHAR(12) NOT NULL, 
	created_at DATETIME NOT NULL, 
	last_used_at DATETIME, 
	revoked_at DATETIME, 
	CONSTRAINT fk_api_tokens_user_id_users FOREIGN KEY(user_id) REFERENCES users (id), 
	CONSTRAINT pk_api_tokens PRIMARY KEY (id), 
	CONSTRAINT uq_api_tokens_token_hash UNIQUE (token_hash)
);
CREATE TABLE "batch_documents" (
	id VARCHAR(36) NOT NULL, 
	batch_id VARCHAR(36) NOT NULL, 
	name VARCHAR(255) NOT NULL, 
	key_id VARCHAR(16) NOT NULL, 
	wrapped_key BLOB NOT NULL, 
	nonce BLOB NOT NULL, 
	ciphertext BLOB, 
	object_key VARCHAR(200), 
	object_sha256 VARCHAR(64), 
	CONSTRAINT fk_batch_documents_batch_id_batches FOREIGN KEY(batch_id) REFERENCES batches (id), 
	CONSTRAINT pk_batch_documents PRIMARY KEY (id), 
	CONSTRAINT uq_batch_documents_batch_id UNIQUE (batch_id, name), 
	CONSTRAINT uq_batch_documents_object_key UNIQUE (object_key)
);
CREATE TABLE batch_rows (
	id VARCHAR(36) NOT NULL, 
	batch_id VARCHAR(36) NOT NULL, 
	row_number INTEGER NOT NULL, 
	recipient_name VARCHAR(200) NOT NULL, 
	recipient_phone VARCHAR(20) NOT NULL, 
	recipient_email VARCHAR(254), 
	sender_reference VARCHAR(100), 
	language VARCHAR(5) NOT NULL, 
	document_name VARCHAR(255) NOT NULL, 
	letter_id VARCHAR(36), identity TEXT, 
	CONSTRAINT fk_batch_rows_batch_id_batches FOREIGN KEY(batch_id) REFERENCES batches (id), 
	CONSTRAINT fk_batch_rows_letter_id_letters FOREIGN KEY(letter_id) REFERENCES letters (id), 
	CONSTRAINT pk_batch_rows PRIMARY KEY (id), 
	CONSTRAINT uq_batch_rows_batch_id UNIQUE (batch_id, row_number), 
	CONSTRAINT uq_batch_rows_letter_id UNIQUE (letter_id)
);
CREATE TABLE batches (
	id VARCHAR(36) NOT NULL, 
	organisation_id VARCHAR(36) NOT NULL, 
	user_id VARCHAR(36) NOT NULL, 
	status VARCHAR(20) NOT NULL, 
	csv_name VARCHAR(255) NOT NULL, 
	language VARCHAR(5) NOT NULL, 
	document_confidential BOOLEAN DEFAULT 0 NOT NULL, 
	total_rows INTEGER NOT NULL, 
	deposited_rows INTEGER NOT NULL, 
	error VARCHAR(200), 
	created_at DATETIME NOT NULL, 
	started_at DATETIME, 
	finished_at DATETIME, 
	CONSTRAINT fk_batches_organisation_id_organisations FOREIGN KEY(organisation_id) REFERENCES organisations (id), 
	CONSTRAINT fk_batches_user_id_users FOREIGN KEY(user_id) REFERENCES users (id), 
	CONSTRAINT pk_batches PRIMARY KEY (id)
);
CREATE TABLE delivery_receipts (
	id VARCHAR(36) NOT NULL, 
	message_id VARCHAR(36) NOT NULL, 
	provider VARCHAR(20) NOT NULL, 
	provider_message_id VARCHAR(100) NOT NULL, 
	status VARCHAR(20) NOT NULL, 
	error_code VARCHAR(20), 
	operator_at DATETIME, 
	received_at DATETIME NOT NULL, 
	evidence_id VARCHAR(36), 
	payload TEXT NOT NULL, 
	CONSTRAINT fk_delivery_receipts_evidence_id_evidence FOREIGN KEY(evidence_id) REFERENCES evidence (id), 
	CONSTRAINT fk_delivery_receipts_message_id_outbound_messages FOREIGN KEY(message_id) REFERENCES outbound_messages (id), 
	CONSTRAINT pk_delivery_receipts PRIMARY KEY (id), 
	CONSTRAINT uq_delivery_receipts_provider UNIQUE (provider, provider_message_id, status)
);
CREATE TABLE "documents" (
	letter_id VARCHAR(36) NOT NULL, 
	key_id VARCHAR(16) NOT NULL, 
	wrapped_key BLOB NOT NULL, 
	nonce BLOB NOT NULL, 
	ciphertext BLOB, 
	object_key VARCHAR(200), 
	object_sha256 VARCHAR(64), 
	CONSTRAINT fk_documents_letter_id_letters FOREIGN KEY(letter_id) REFERENCES letters (id), 
	CONSTRAINT pk_documents PRIMARY KEY (letter_id), 
	CONSTRAINT uq_documents_object_key UNIQUE (object_key)
);
CREATE TABLE draft_documents (
	id VARCHAR(36) NOT NULL, 
	user_id VARCHAR(36) NOT NULL, 
	filename VARCHAR(255) NOT NULL, 
	size INTEGER NOT NULL, 
	key_id VARCHAR(16) NOT NULL, 
	wrapped_key BLOB NOT NULL, 
	nonce BLOB NOT NULL, 
	ciphertext BLOB NOT NULL, 
	created_at DATETIME NOT NULL, 
	CONSTRAINT fk_draft_documents_user_id_users FOREIGN KEY(user_id) REFERENCES users (id), 
	CONSTRAINT pk_draft_documents PRIMARY KEY (id)
);
CREATE TABLE eid_attempts (
	id VARCHAR(36) NOT NULL, 
	letter_id VARCHAR(36) NOT NULL, 
	provider VARCHAR(32) NOT NULL, 
	state_hash VARCHAR(64) NOT NULL, 
	nonce VARCHAR(64) NOT NULL, 
	code_verifier VARCHAR(128) NOT NULL, 
	created_at DATETIME NOT NULL, 
	expires_at DATETIME NOT NULL, 
	finished_at DATETIME, 
	status VARCHAR(16) NOT NULL, 
	outcome VARCHAR(40), 
	CONSTRAINT fk_eid_attempts_letter_id_letters FOREIGN KEY(letter_id) REFERENCES letters (id), 
	CONSTRAINT pk_eid_attempts PRIMARY KEY (id), 
	CONSTRAINT uq_eid_attempts_state_hash UNIQUE (state_hash)
);
CREATE TABLE email_confirmations (
	id VARCHAR(36) NOT NULL, 
	user_id VARCHAR(36) NOT NULL, 
	email VARCHAR(254) NOT NULL, 
	token_hash VARCHAR(64) NOT NULL, 
	created_at DATETIME NOT NULL, 
	expires_at DATETIME NOT NULL, 
	used_at DATETIME, 
	token_key_id VARCHAR(16), 
	token_wrapped_key BLOB, 
	token_nonce BLOB, 
	token_ciphertext BLOB, 
	language VARCHAR(5) DEFAULT 'fr' NOT NULL, 
	email_attempts INTEGER DEFAULT '0' NOT NULL, 
	email_sent_at DATETIME, 
	email_error VARCHAR(200), 
	email_status VARCHAR(20) NOT NULL, 
	CONSTRAINT fk_email_confirmations_user_id_users FOREIGN KEY(user_id) REFERENCES users (id), 
	CONSTRAINT pk_email_confirmations PRIMARY KEY (id), 
	CONSTRAINT uq_email_confirmations_token_hash UNIQUE (token_hash)
);
CREATE TABLE evidence (
	id VARCHAR(36) NOT NULL, 
	seq INTEGER NOT NULL, 
	letter_id VARCHAR(36) NOT NULL, 
	event VARCHAR(50) NOT NULL, 
	occurred_at DATETIME NOT NULL, 
	canonical TEXT NOT NULL, 
	previous_hash VARCHAR(64) NOT NULL, 
	record_hash VARCHAR(64) NOT NULL, seal BLOB, sealed_at DATETIME, 
	CONSTRAINT fk_evidence_letter_id_letters FOREIGN KEY(letter_id) REFERENCES letters (id), 
	CONSTRAINT pk_evidence PRIMARY KEY (id), 
	CONSTRAINT uq_evidence_previous_hash UNIQUE (previous_hash), 
	CONSTRAINT uq_evidence_record_hash UNIQUE (record_hash), 
	CONSTRAINT uq_evidence_seq UNIQUE (seq)
);
CREATE TABLE evidence_chain_head (
	id INTEGER NOT NULL, 
	seq INTEGER NOT NULL, 
	record_hash VARCHAR(64) NOT NULL, 
	version INTEGER NOT NULL, 
	CONSTRAINT pk_evidence_chain_head PRIMARY KEY (id)
);
CREATE TABLE evidence_checkpoints (
	id INTEGER NOT NULL, 
	seq INTEGER NOT NULL, 
	record_hash VARCHAR(64) NOT NULL, 
	created_at DATETIME NOT NULL, 
	canonical TEXT NOT NULL, 
	seal BLOB NOT NULL, 
	CONSTRAINT pk_evidence_checkpoints PRIMARY KEY (id)
);
CREATE TABLE "invitations" (
	id VARCHAR(36) NOT NULL, 
	organisation_id VARCHAR(36) NOT NULL, 
	email VARCHAR(254) NOT NULL, 
	role VARCHAR(20) NOT NULL, 
	token_hash VARCHAR(64) NOT NULL, 
	invited_by_user_id VARCHAR(36) NOT NULL, 
	created_at DATETIME NOT NULL, 
	expires_at DATETIME NOT NULL, 
	accepted_at DATETIME, 
	token_key_id VARCHAR(16), 
	token_wrapped_key BLOB, 
	token_nonce BLOB, 
	token_ciphertext BLOB, 
	language VARCHAR(5) DEFAULT 'fr' NOT NULL, 
	email_attempts INTEGER DEFAULT '0' NOT NULL, 
	email_sent_at DATETIME, 
	email_error VARCHAR(200), 
	email_status VARCHAR(20) NOT NULL, 
	CONSTRAINT fk_invitations_invited_by_user_id_users FOREIGN KEY(invited_by_user_id) REFERENCES users (id), 
	CONSTRAINT fk_invitations_organisation_id_organisations FOREIGN KEY(organisation_id) REFERENCES organisations (id), 
	CONSTRAINT pk_invitations PRIMARY KEY (id), 
	CONSTRAINT uq_invitations_token_hash UNIQUE (token_hash)
);
CREATE TABLE journal_checkpoints (
	tree_size BIGINT NOT NULL, 
	root_hash VARCHAR(64) NOT NULL, 
	note TEXT NOT NULL, 
	created_at DATETIME NOT NULL, 
	timestamp_token BLOB NOT NULL, 
	timestamped_at DATETIME NOT NULL, 
	seal BLOB NOT NULL, 
	CONSTRAINT pk_journal_checkpoints PRIMARY KEY (tree_size)
);
CREATE TABLE journal_nodes (
	level SMALLINT NOT NULL, 
	position BIGINT NOT NULL, 
	hash BLOB NOT NULL, 
	CONSTRAINT pk_journal_nodes PRIMARY KEY (level, position)
);
CREATE TABLE journal_refusals (
	id INTEGER NOT NULL, 
	evidence_id VARCHAR(36) NOT NULL, 
	seq BIGINT NOT NULL, 
	problem VARCHAR(200) NOT NULL, 
	first_seen_at DATETIME NOT NULL, 
	last_seen_at DATETIME NOT NULL, 
	times INTEGER NOT NULL, 
	CONSTRAINT pk_journal_refusals PRIMARY KEY (id), 
	CONSTRAINT uq_journal_refusals_evidence_id UNIQUE (evidence_id, problem)
);
CREATE TABLE key_rotations (
	id VARCHAR(36) NOT NULL, 
	kind VARCHAR(20) NOT NULL, 
	old_key_id VARCHAR(100), 
	new_key_id VARCHAR(100) NOT NULL, 
	started_at DATETIME NOT NULL, 
	finished_at DATETIME, 
	started_by VARCHAR(80) NOT NULL, 
	rewrapped INTEGER DEFAULT '0' NOT NULL, 
	record TEXT, 
	seal BLOB, 
	CONSTRAINT pk_key_rotations PRIMARY KEY (id)
);
CREATE TABLE legal_holds (
	id VARCHAR(36) NOT NULL, 
	letter_id VARCHAR(36) NOT NULL, 
	reason VARCHAR(500) NOT NULL, 
	placed_at DATETIME NOT NULL, 
	placed_by VARCHAR(80) NOT NULL, 
	lifted_at DATETIME, 
	lifted_by VARCHAR(80), 
	lift_reason VARCHAR(500), 
	CONSTRAINT fk_legal_holds_letter_id_letters FOREIGN KEY(letter_id) REFERENCES letters (id), 
	CONSTRAINT pk_legal_holds PRIMARY KEY (id)
);
CREATE TABLE letter_identities (
	letter_id VARCHAR(36) NOT NULL, 
	method VARCHAR(16) NOT NULL, 
	expected_cin_hmac VARCHAR(64), 
	expected_cin_masked VARCHAR(32), 
	expected_name VARCHAR(200), 
	expected_birth_date DATE, 
	eid_failures INTEGER DEFAULT '0' NOT NULL, 
	CONSTRAINT fk_letter_identities_letter_id_letters FOREIGN KEY(letter_id) REFERENCES letters (id), 
	CONSTRAINT pk_letter_identities PRIMARY KEY (letter_id)
);
CREATE TABLE letter_name_words (
	letter_id VARCHAR(36) NOT NULL, 
	word VARCHAR(129) NOT NULL, 
	deposited_at DATETIME NOT NULL, 
	CONSTRAINT fk_letter_name_words_letter_id_letters FOREIGN KEY(letter_id) REFERENCES letters (id), 
	CONSTRAINT pk_letter_name_words PRIMARY KEY (letter_id, word)
);
CREATE TABLE "letters" (
	id VARCHAR(36) NOT NULL, 
	reference VARCHAR(16) NOT NULL, 
	organisation_id VARCHAR(36) NOT NULL, 
	sender_user_id VARCHAR(36) NOT NULL, 
	status VARCHAR(20) NOT NULL, 
	channel VARCHAR(10) NOT NULL, 
	language VARCHAR(5) NOT NULL, 
	recipient_name VARCHAR(200) NOT NULL, 
	recipient_phone VARCHAR(20) NOT NULL, 
	recipient_email VARCHAR(254), 
	document_name VARCHAR(255) NOT NULL, 
	document_size INTEGER NOT NULL, 
	document_sha256 VARCHAR(64) NOT NULL, 
	code_failures INTEGER NOT NULL, 
	locked_at DATETIME, 
	deposited_at DATETIME NOT NULL, 
	notified_at DATETIME, 
	deadline_at DATETIME, 
	decided_at DATETIME, 
	version INTEGER NOT NULL, 
	reminders_sent INTEGER DEFAULT '0' NOT NULL, 
	sender_reference VARCHAR(100), 
	idempotency_key VARCHAR(255), 
	idempotency_fingerprint VARCHAR(64), 
	last_resend_at DATETIME, 
	batch_id VARCHAR(36), 
	document_confidential BOOLEAN DEFAULT 0 NOT NULL, recipient_email_normalised VARCHAR(254), document_active_content VARCHAR(200), final_at DATETIME, document_deleted_at DATETIME, code_wait_until DATETIME, 
	CONSTRAINT fk_letters_batch_id_batches FOREIGN KEY(batch_id) REFERENCES batches (id), 
	CONSTRAINT fk_letters_organisation_id_organisations FOREIGN KEY(organisation_id) REFERENCES organisations (id), 
	CONSTRAINT fk_letters_sender_user_id_users FOREIGN KEY(sender_user_id) REFERENCES users (id), 
	CONSTRAINT pk_letters PRIMARY KEY (id), 
	CONSTRAINT uq_letters_organisation_id UNIQUE (organisation_id, idempotency_key), 
	CONSTRAINT uq_letters_reference UNIQUE (reference)
);
CREATE TABLE "one_time_codes" (
	id VARCHAR(36) NOT NULL, 
	letter_id VARCHAR(36) NOT NULL, 
	code_hash VARCHAR(64) NOT NULL, 
	created_at DATETIME NOT NULL, 
	expires_at DATETIME NOT NULL, 
	attempts INTEGER NOT NULL, 
	used_at DATETIME, 
	message_id VARCHAR(36), 
	CONSTRAINT fk_one_time_codes_letter_id_letters FOREIGN KEY(letter_id) REFERENCES letters (id), 
	CONSTRAINT fk_one_time_codes_message_id_outbound_messages FOREIGN KEY(message_id) REFERENCES outbound_messages (id), 
	CONSTRAINT pk_one_time_codes PRIMARY KEY (id)
);
CREATE TABLE organisation_documents (
	id VARCHAR(36) NOT NULL, 
	organisation_id VARCHAR(36) NOT NULL, 
	kind VARCHAR(30) NOT NULL, 
	filename VARCHAR(255) NOT NULL, 
	content_type VARCHAR(100) NOT NULL, 
	size INTEGER NOT NULL, 
	sha256 VARCHAR(64) NOT NULL, 
	key_id VARCHAR(16) NOT NULL, 
	wrapped_key BLOB NOT NULL, 
	nonce BLOB NOT NULL, 
	ciphertext BLOB NOT NULL, 
	uploaded_by_user_id VARCHAR(36) NOT NULL, 
	uploaded_at DATETIME NOT NULL, 
	replaced_at DATETIME, 
	CONSTRAINT fk_organisation_documents_organisation_id_organisations FOREIGN KEY(organisation_id) REFERENCES organisations (id), 
	CONSTRAINT fk_organisation_documents_uploaded_by_user_id_users FOREIGN KEY(uploaded_by_user_id) REFERENCES users (id), 
	CONSTRAINT pk_organisation_documents PRIMARY KEY (id)
);
CREATE TABLE organisation_name_words (
	organisation_id VARCHAR(36) NOT NULL, 
	word VARCHAR(64) NOT NULL, 
	CONSTRAINT fk_organisation_name_words_organisation_id_organisations FOREIGN KEY(organisation_id) REFERENCES organisations (id), 
	CONSTRAINT pk_organisation_name_words PRIMARY KEY (organisation_id, word)
);
CREATE TABLE organisations (
	id VARCHAR(36) NOT NULL, 
	name VARCHAR(200) NOT NULL, 
	legal_name VARCHAR(200) NOT NULL, 
	ice VARCHAR(15), 
	address VARCHAR(400), 
	verified_at DATETIME, 
	created_at DATETIME NOT NULL, verified_by VARCHAR(254), verification_document VARCHAR(400), name_key VARCHAR(200), legal_name_key VARCHAR(200), allows_active_content BOOLEAN DEFAULT 0 NOT NULL, verification_submitted_at DATETIME, refused_at DATETIME, refused_by VARCHAR(254), refusal_reason VARCHAR(500), decision_email_status VARCHAR(20), decision_emailed_at DATETIME, 
	CONSTRAINT pk_organisations PRIMARY KEY (id), 
	CONSTRAINT uq_organisations_name UNIQUE (name)
);
CREATE TABLE "outbound_messages" (
	id VARCHAR(36) NOT NULL, 
	letter_id VARCHAR(36) NOT NULL, 
	purpose VARCHAR(20) NOT NULL, 
	channel VARCHAR(10) NOT NULL, 
	recipient VARCHAR(254) NOT NULL, 
	status VARCHAR(20) NOT NULL, 
	secret_key_id VARCHAR(16), 
	secret_wrapped_key BLOB, 
	secret_nonce BLOB, 
	secret_ciphertext BLOB, 
	segments INTEGER NOT NULL, 
	provider VARCHAR(20), 
	provider_message_id VARCHAR(100), 
	attempts INTEGER NOT NULL, 
	last_error TEXT, 
	created_at DATETIME NOT NULL, 
	submitted_at DATETIME, 
	sent_at DATETIME, 
	next_attempt_at DATETIME, 
	reminder_number INTEGER, 
	delivery_status VARCHAR(20), 
	delivered_at DATETIME, 
	requested_by_user_id VARCHAR(36), 
	requested_by_agent_id VARCHAR(36), text_sha256 VARCHAR(64), 
	CONSTRAINT fk_outbound_messages_letter_id_letters FOREIGN KEY(letter_id) REFERENCES letters (id), 
	CONSTRAINT fk_outbound_messages_requested_by_agent_id_agents FOREIGN KEY(requested_by_agent_id) REFERENCES agents (id), 
	CONSTRAINT fk_outbound_messages_requested_by_user_id_users FOREIGN KEY(requested_by_user_id) REFERENCES users (id), 
	CONSTRAINT pk_outbound_messages PRIMARY KEY (id), 
	CONSTRAINT uq_outbound_messages_letter_id UNIQUE (letter_id, channel, reminder_number)
);
CREATE TABLE "proofs" (
	id VARCHAR(36) NOT NULL, 
	letter_id VARCHAR(36) NOT NULL, 
	kind VARCHAR(20) NOT NULL, 
	evidence_id VARCHAR(36) NOT NULL, 
	status VARCHAR(20) NOT NULL, 
	created_at DATETIME NOT NULL, 
	issued_at DATETIME, 
	retain_until DATETIME, 
	sha256 VARCHAR(64), 
	size INTEGER, 
	attempts INTEGER NOT NULL, 
	last_error TEXT, 
	key_id VARCHAR(16), 
	wrapped_key BLOB, 
	nonce BLOB, 
	ciphertext BLOB, 
	archive_expires_at DATETIME, 
	object_key VARCHAR(200), 
	object_sha256 VARCHAR(64), 
	CONSTRAINT fk_proofs_evidence_id_evidence FOREIGN KEY(evidence_id) REFERENCES evidence (id), 
	CONSTRAINT fk_proofs_letter_id_letters FOREIGN KEY(letter_id) REFERENCES letters (id), 
	CONSTRAINT pk_proofs PRIMARY KEY (id), 
	CONSTRAINT uq_proofs_letter_id UNIQUE (letter_id, kind), 
	CONSTRAINT uq_proofs_object_key UNIQUE (object_key)
);
CREATE TABLE recovery_codes (
	id VARCHAR(36) NOT NULL, 
	user_id VARCHAR(36) NOT NULL, 
	code_hash VARCHAR(64) NOT NULL, 
	created_at DATETIME NOT NULL, 
	used_at DATETIME, 
	CONSTRAINT fk_recovery_codes_user_id_users FOREIGN KEY(user_id) REFERENCES users (id), 
	CONSTRAINT pk_recovery_codes PRIMARY KEY (id)
);
CREATE TABLE users (
	id VARCHAR(36) NOT NULL, 
	organisation_id VARCHAR(36) NOT NULL, 
	email VARCHAR(254) NOT NULL, 
	password_hash VARCHAR(255) NOT NULL, 
	role VARCHAR(20) NOT NULL, 
	is_active BOOLEAN NOT NULL, 
	created_at DATETIME NOT NULL, session_epoch INTEGER DEFAULT '0' NOT NULL, login_failures INTEGER DEFAULT '0' NOT NULL, login_failures_since DATETIME, login_locked_until DATETIME, totp_enabled_at DATETIME, totp_key_id VARCHAR(16), totp_wrapped_key BLOB, totp_nonce BLOB, totp_ciphertext BLOB, totp_last_timestep INTEGER, totp_failures INTEGER DEFAULT '0' NOT NULL, totp_failures_since DATETIME, totp_locked_until DATETIME, email_confirmed_at DATETIME, 
	CONSTRAINT fk_users_organisation_id_organisations FOREIGN KEY(organisation_id) REFERENCES organisations (id), 
	CONSTRAINT pk_users PRIMARY KEY (id), 
	CONSTRAINT uq_users_email UNIQUE (email)
);
CREATE TABLE webhook_attempts (
	id VARCHAR(36) NOT NULL, 
	delivery_id VARCHAR(36) NOT NULL, 
	number INTEGER NOT NULL, 
	attempted_at DATETIME NOT NULL, 
	duration_ms INTEGER NOT NULL, 
	status_code INTEGER, 
	error VARCHAR(200), 
	response_excerpt VARCHAR(500), 
	CONSTRAINT fk_webhook_attempts_delivery_id_webhook_deliveries FOREIGN KEY(delivery_id) REFERENCES webhook_deliveries (id), 
	CONSTRAINT pk_webhook_attempts PRIMARY KEY (id), 
	CONSTRAINT uq_webhook_attempts_delivery_id UNIQUE (delivery_id, number)
);
CREATE TABLE webhook_deliveries (
	id VARCHAR(36) NOT NULL, 
	endpoint_id VARCHAR(36) NOT NULL, 
	event_id VARCHAR(36) NOT NULL, 
	event_type VARCHAR(40) NOT NULL, 
	letter_id VARCHAR(36) NOT NULL, 
	payload TEXT NOT NULL, 
	status VARCHAR(20) NOT NULL, 
	attempts INTEGER NOT NULL, 
	created_at DATETIME NOT NULL, 
	next_attempt_at DATETIME, 
	last_attempt_at DATETIME, 
	last_status_code INTEGER, 
	last_error VARCHAR(200), 
	delivered_at DATETIME, 
	CONSTRAINT fk_webhook_deliveries_endpoint_id_webhook_endpoints FOREIGN KEY(endpoint_id) REFERENCES webhook_endpoints (id), 
	CONSTRAINT fk_webhook_deliveries_letter_id_letters FOREIGN KEY(letter_id) REFERENCES letters (id), 
	CONSTRAINT pk_webhook_deliveries PRIMARY KEY (id), 
	CONSTRAINT uq_webhook_deliveries_endpoint_id UNIQUE (endpoint_id, event_id)
);
CREATE TABLE webhook_endpoints (
	id VARCHAR(36) NOT NULL, 
	organisation_id VARCHAR(36) NOT NULL, 
	url VARCHAR(500) NOT NULL, 
	description VARCHAR(100) NOT NULL, 
	is_active BOOLEAN NOT NULL, 
	secret_hint VARCHAR(16) NOT NULL, 
	secret_key_id VARCHAR(16) NOT NULL, 
	secret_wrapped_key BLOB NOT NULL, 
	secret_nonce BLOB NOT NULL, 
	secret_ciphertext BLOB NOT NULL, 
	created_at DATETIME NOT NULL, 
	created_by_user_id VARCHAR(36), 
	secret_rotated_at DATETIME, 
	disabled_at DATETIME, 
	CONSTRAINT fk_webhook_endpoints_created_by_user_id_users FOREIGN KEY(created_by_user_id) REFERENCES users (id), 
	CONSTRAINT fk_webhook_endpoints_organisation_id_organisations FOREIGN KEY(organisation_id) REFERENCES organisations (id), 
	CONSTRAINT pk_webhook_endpoints PRIMARY KEY (id)
);
CREATE INDEX ix_access_links_letter_id ON access_links (letter_id);
CREATE INDEX ix_agent_audit_log_agent_id_at ON agent_audit_log (agent_id, at);
CREATE INDEX ix_agent_audit_log_at ON agent_audit_log (at);
CREATE INDEX ix_agent_audit_log_letter_id_at ON agent_audit_log (letter_id, at);
CREATE INDEX ix_api_tokens_user_id ON api_tokens (user_id);
CREATE INDEX ix_batch_documents_batch_id ON batch_documents (batch_id);
CREATE INDEX ix_batch_rows_batch_id ON batch_rows (batch_id);
CREATE INDEX ix_batches_created_at ON batches (created_at);
CREATE INDEX ix_batches_organisation_id ON batches (organisation_id);
CREATE INDEX ix_delivery_receipts_message_id ON delivery_receipts (message_id);
CREATE INDEX ix_draft_documents_created_at ON draft_documents (created_at);
CREATE INDEX ix_draft_documents_user_id ON draft_documents (user_id);
CREATE INDEX ix_eid_attempts_letter_id ON eid_attempts (letter_id);
CREATE INDEX ix_email_confirmations_user_id ON email_confirmations (user_id);
CREATE INDEX ix_evidence_checkpoints_seq ON evidence_checkpoints (seq);
CREATE INDEX ix_evidence_letter_id ON evidence (letter_id);
CREATE INDEX ix_evidence_sealed_at ON evidence (sealed_at);
CREATE INDEX ix_invitations_organisation_id ON invitations (organisation_id);
CREATE INDEX ix_journal_checkpoints_created_at ON journal_checkpoints (created_at);
CREATE INDEX ix_key_rotations_kind ON key_rotations (kind);
CREATE INDEX ix_legal_holds_letter_id_lifted_at ON legal_holds (letter_id, lifted_at);
CREATE INDEX ix_letter_name_words_word_deposited_at ON letter_name_words (word, deposited_at, letter_id);
CREATE INDEX ix_letters_batch_id ON letters (batch_id);
CREATE INDEX ix_letters_code_failures ON letters (code_failures);
CREATE INDEX ix_letters_deadline_at ON letters (deadline_at);
CREATE INDEX ix_letters_final_at ON letters (final_at);
CREATE INDEX ix_letters_locked_at ON letters (locked_at);
CREATE INDEX ix_letters_organisation_id ON letters (organisation_id);
CREATE INDEX ix_letters_organisation_id_deposited_at ON letters (organisation_id, deposited_at);
CREATE INDEX ix_letters_recipient_email_normalised ON letters (recipient_email_normalised);
CREATE INDEX ix_letters_recipient_phone ON letters (recipient_phone);
CREATE INDEX ix_letters_sender_reference ON letters (sender_reference);
CREATE INDEX ix_letters_status ON letters (status);
CREATE INDEX ix_letters_status_deposited_at ON letters (status, deposited_at);
CREATE INDEX ix_one_time_codes_created_at ON one_time_codes (created_at);
CREATE INDEX ix_one_time_codes_letter_id ON one_time_codes (letter_id);
CREATE INDEX ix_organisation_documents_organisation_id ON organisation_documents (organisation_id);
CREATE INDEX ix_organisation_name_words_word ON organisation_name_words (word);
CREATE INDEX ix_organisations_ice ON organisations (ice);
CREATE INDEX ix_organisations_legal_name_key ON organisations (legal_name_key);
CREATE INDEX ix_organisations_name_key ON organisations (name_key);
CREATE INDEX ix_organisations_verification_submitted_at ON organisations (verification_submitted_at);
CREATE INDEX ix_outbound_messages_created_at ON outbound_messages (created_at);
CREATE INDEX ix_outbound_messages_letter_id ON outbound_messages (letter_id);
CREATE INDEX ix_outbound_messages_next_attempt_at ON outbound_messages (next_attempt_at);
CREATE INDEX ix_outbound_messages_status ON outbound_messages (status);
CREATE INDEX ix_outbound_messages_status_created_at ON outbound_messages (status, created_at);
CREATE INDEX ix_proofs_archive_expires_at ON proofs (archive_expires_at);
CREATE INDEX ix_proofs_letter_id ON proofs (letter_id);
CREATE INDEX ix_proofs_status ON proofs (status);
CREATE INDEX ix_recovery_codes_user_id ON recovery_codes (user_id);
CREATE INDEX ix_users_organisation_id ON users (organisation_id);
CREATE INDEX ix_webhook_attempts_delivery_id ON webhook_attempts (delivery_id);
CREATE INDEX ix_webhook_deliveries_created_at ON webhook_deliveries (created_at);
CREATE INDEX ix_webhook_deliveries_endpoint_id ON webhook_deliveries (endpoint_id);
CREATE INDEX ix_webhook_deliveries_event_id ON webhook_deliveries (event_id);
CREATE INDEX ix_webhook_deliveries_letter_id ON webhook_deliveries (letter_id);
CREATE INDEX ix_webhook_deliveries_next_attempt_at ON webhook_deliveries (next_attempt_at);
CREATE INDEX ix_webhook_deliveries_status ON webhook_deliveries (status);
CREATE INDEX ix_webhook_endpoints_organisation_id ON webhook_endpoints (organisation_id);
CREATE TRIGGER agent_audit_log_no_delete BEFORE DELETE ON agent_audit_log BEGIN SELECT RAISE(ABORT, 'agent_audit_log is append-only'); END;
CREATE TRIGGER agent_audit_log_no_update BEFORE UPDATE ON agent_audit_log BEGIN SELECT RAISE(ABORT, 'agent_audit_log is append-only'); END;
INSERT INTO alembic_version (version_num) VALUES ('5a0eb0c0ffee');
INSERT INTO evidence_chain_head (id, seq, record_hash, version) VALUES (1, 0, '0000000000000000000000000000000000000000000000000000000000000000', 1);
