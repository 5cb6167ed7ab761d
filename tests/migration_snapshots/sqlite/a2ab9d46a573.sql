-- Revision a2ab9d46a573 as released (migrations/ at 550ec2896ee1), sqlite.
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
CREATE TABLE documents (
	letter_id VARCHAR(36) NOT NULL, 
	key_id VARCHAR(16) NOT NULL, 
	wrapped_key BLOB NOT NULL, 
	nonce BLOB NOT NULL, 
	ciphertext BLOB NOT NULL, 
	CONSTRAINT fk_documents_letter_id_letters FOREIGN KEY(letter_id) REFERENCES letters (id), 
	CONSTRAINT pk_documents PRIMARY KEY (letter_id)
);
CREATE TABLE evidence (
	id VARCHAR(36) NOT NULL, 
	seq INTEGER NOT NULL, 
	letter_id VARCHAR(36) NOT NULL, 
	event VARCHAR(50) NOT NULL, 
	occurred_at DATETIME NOT NULL, 
	canonical TEXT NOT NULL, 
	previous_hash VARCHAR(64) NOT NULL, 
	record_hash VARCHAR(64) NOT NULL, 
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
CREATE TABLE letters (
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
	CONSTRAINT fk_letters_organisation_id_organisations FOREIGN KEY(organisation_id) REFERENCES organisations (id), 
	CONSTRAINT fk_letters_sender_user_id_users FOREIGN KEY(sender_user_id) REFERENCES users (id), 
	CONSTRAINT pk_letters PRIMARY KEY (id), 
	CONSTRAINT uq_letters_reference UNIQUE (reference)
);
CREATE TABLE one_time_codes (
	id VARCHAR(36) NOT NULL, 
	letter_id VARCHAR(36) NOT NULL, 
	code_hash VARCHAR(64) NOT NULL, 
	created_at DATETIME NOT NULL, 
	expires_at DATETIME NOT NULL, 
	attempts INTEGER NOT NULL, 
	used_at DATETIME, 
	CONSTRAINT fk_one_time_codes_letter_id_letters FOREIGN KEY(letter_id) REFERENCES letters (id), 
	CONSTRAINT pk_one_time_codes PRIMARY KEY (id)
);
CREATE TABLE organisations (
	id VARCHAR(36) NOT NULL, 
	name VARCHAR(200) NOT NULL, 
	legal_name VARCHAR(200) NOT NULL, 
	ice VARCHAR(15), 
	address VARCHAR(400), 
	verified_at DATETIME, 
	created_at DATETIME NOT NULL, 
	CONSTRAINT pk_organisations PRIMARY KEY (id), 
	CONSTRAINT uq_organisations_name UNIQUE (name)
);
CREATE TABLE outbound_messages (
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
	CONSTRAINT fk_outbound_messages_letter_id_letters FOREIGN KEY(letter_id) REFERENCES letters (id), 
	CONSTRAINT pk_outbound_messages PRIMARY KEY (id)
);
CREATE TABLE users (
	id VARCHAR(36) NOT NULL, 
	organisation_id VARCHAR(36) NOT NULL, 
	email VARCHAR(254) NOT NULL, 
	password_hash VARCHAR(255) NOT NULL, 
	role VARCHAR(20) NOT NULL, 
	is_active BOOLEAN NOT NULL, 
	created_at DATETIME NOT NULL, 
	CONSTRAINT fk_users_organisation_id_organisations FOREIGN KEY(organisation_id) REFERENCES organisations (id), 
	CONSTRAINT pk_users PRIMARY KEY (id), 
	CONSTRAINT uq_users_email UNIQUE (email)
);
CREATE INDEX ix_access_links_letter_id ON access_links (letter_id);
CREATE INDEX ix_api_tokens_user_id ON api_tokens (user_id);
CREATE INDEX ix_evidence_letter_id ON evidence (letter_id);
CREATE INDEX ix_letters_deadline_at ON letters (deadline_at);
CREATE INDEX ix_letters_organisation_id ON letters (organisation_id);
CREATE INDEX ix_letters_recipient_phone ON letters (recipient_phone);
CREATE INDEX ix_letters_status ON letters (status);
CREATE INDEX ix_one_time_codes_created_at ON one_time_codes (created_at);
CREATE INDEX ix_one_time_codes_letter_id ON one_time_codes (letter_id);
CREATE INDEX ix_outbound_messages_letter_id ON outbound_messages (letter_id);
CREATE INDEX ix_outbound_messages_next_attempt_at ON outbound_messages (next_attempt_at);
CREATE INDEX ix_outbound_messages_status ON outbound_messages (status);
CREATE INDEX ix_users_organisation_id ON users (organisation_id);
INSERT INTO alembic_version (version_num) VALUES ('a2ab9d46a573');
INSERT INTO evidence_chain_head (id, seq, record_hash, version) VALUES (1, 0, '0000000000000000000000000000000000000000000000000000000000000000', 1);
