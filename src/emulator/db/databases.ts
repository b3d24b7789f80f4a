// The repository server's other databases (guide §2.5: SenseServices, QSMQ, Licenses; QLogs on old sites,
// §5.3/5.6). The guide names the databases but not their tables: the tables below are emulator assumptions,
// plausible enough for dumps, restores and row-count comparisons to have something real to move.

export type RepositoryDatabase = 'QSR' | 'SenseServices' | 'QSMQ' | 'Licenses' | 'QLogs';

/** The repository login role (guide §2.5; the QPI docs' "qlikenserepository" is a typo, reference digest §19 item 2). */
export const REPOSITORY_ROLE = 'qliksenserepository';

/** The four databases every site has (guide §2.5), in the guide's order. */
export const REPOSITORY_DATABASES: readonly RepositoryDatabase[] = ['QSR', 'SenseServices', 'QSMQ', 'Licenses'];

/** CREATE statements for each database other than QSR. */
export const OTHER_DB_SQL: Readonly<Record<Exclude<RepositoryDatabase, 'QSR'>, readonly string[]>> = {
  SenseServices: [
    `CREATE TABLE migrations (id serial PRIMARY KEY, name text NOT NULL, run_on timestamp NOT NULL DEFAULT now())`,
    `CREATE TABLE service_settings (key text PRIMARY KEY, value jsonb NOT NULL, updated_at timestamp NOT NULL DEFAULT now())`,
    `CREATE TABLE hybrid_deployments (id uuid PRIMARY KEY, name text NOT NULL, url text NOT NULL, tenant_id text,
       api_key text, created_at timestamp NOT NULL DEFAULT now(), updated_at timestamp NOT NULL DEFAULT now())`,
    `CREATE TABLE distribution_policies (id uuid PRIMARY KEY, deployment_id uuid REFERENCES hybrid_deployments(id),
       rule text NOT NULL, disabled boolean NOT NULL DEFAULT false)`,
    `CREATE TABLE distribution_status (id bigserial PRIMARY KEY, app_id uuid NOT NULL, deployment_id uuid,
       state text NOT NULL, message text, at timestamp NOT NULL DEFAULT now())`,
  ],
  QSMQ: [
    `CREATE TABLE queues (id serial PRIMARY KEY, name text NOT NULL UNIQUE, durable boolean NOT NULL DEFAULT true)`,
    `CREATE TABLE messages (id bigserial PRIMARY KEY, queue_id integer NOT NULL REFERENCES queues(id),
       payload jsonb NOT NULL, enqueued_at timestamp NOT NULL DEFAULT now(), delivered_at timestamp)`,
    `CREATE TABLE subscriptions (id serial PRIMARY KEY, queue_id integer NOT NULL REFERENCES queues(id),
       consumer text NOT NULL, created_at timestamp NOT NULL DEFAULT now())`,
  ],
  Licenses: [
    `CREATE TABLE migrations (id serial PRIMARY KEY, name text NOT NULL, run_on timestamp NOT NULL DEFAULT now())`,
    `CREATE TABLE license_keys (id uuid PRIMARY KEY, signed_key text NOT NULL, activated_at timestamp)`,
    `CREATE TABLE assignments (id uuid PRIMARY KEY, subject text NOT NULL, access_type text NOT NULL,
       created_at timestamp NOT NULL DEFAULT now(), excess boolean NOT NULL DEFAULT false)`,
    `CREATE TABLE usage_log (id bigserial PRIMARY KEY, subject text NOT NULL, access_type text NOT NULL,
       used_at timestamp NOT NULL DEFAULT now())`,
  ],
  QLogs: [
    `CREATE TABLE log_entries (id bigserial PRIMARY KEY, process_host text NOT NULL, process_name text NOT NULL,
       logger text, level text NOT NULL, message text, entry_timestamp timestamp NOT NULL DEFAULT now())`,
    `CREATE INDEX log_entries_ts ON log_entries (entry_timestamp)`,
  ],
};

/** Rows every fresh site has in the other databases (so dumps and row counts are not all zero). */
export const OTHER_DB_SEED: Readonly<Partial<Record<RepositoryDatabase, readonly string[]>>> = {
  SenseServices: [
    `INSERT INTO migrations (name) VALUES ('001-initial'), ('002-distribution-status')`,
    `INSERT INTO service_settings (key, value) VALUES ('hybrid.enabled', 'false'), ('hybrid.pollSeconds', '30')`,
  ],
  QSMQ: [`INSERT INTO queues (name) VALUES ('qrs.changes'), ('distribution'), ('license.events')`],
  Licenses: [`INSERT INTO migrations (name) VALUES ('001-initial')`],
};
