-- registry_import: feast_import_registry takes what `feast registry-dump` prints (hand-written
-- dumps in that format), in one feast_apply; feast_export_registry writes the same format, and
-- importing an export changes nothing
\set SHOW_CONTEXT never
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS cfeast CASCADE;
DROP TABLE IF EXISTS driver_stats, customer_stats, global_stats_raw;
DROP SCHEMA IF EXISTS ri_other CASCADE;
DROP SCHEMA IF EXISTS ri_hostile CASCADE;
DO $$
DECLARE r name;
BEGIN
    FOR r IN SELECT rolname FROM pg_roles WHERE rolname LIKE 'regress\_ri\_%' LOOP
        EXECUTE format('DROP OWNED BY %I CASCADE', r);
        EXECUTE format('DROP ROLE %I', r);
    END LOOP;
END $$;
CREATE EXTENSION cfeast;
RESET client_min_messages;
-- a summary as rows
CREATE FUNCTION ri_summary(r jsonb) RETURNS TABLE (status text, kind text, name text)
LANGUAGE sql AS $$
    SELECT s.key, x ->> 'kind', x ->> 'name' FROM jsonb_each(r) s, jsonb_array_elements(s.value) x
     ORDER BY 1, 2, 3
$$;

CREATE TABLE driver_stats (driver_id bigint, event_timestamp timestamptz, created timestamptz,
                           conv_rate real, acc_rate real, avg_daily_trips integer);
CREATE TABLE customer_stats (cust_id text, ts timestamptz, current_balance double precision,
                             lifetime_trip_count bigint, recent_ratings double precision[]);
CREATE TABLE global_stats_raw (event_timestamp timestamptz, total_trips bigint);

-- the dumps, as `feast registry-dump` prints them (keys sorted, defaults left out)
CREATE TABLE dumps (name text PRIMARY KEY, dump jsonb);
GRANT SELECT ON dumps TO PUBLIC;
INSERT INTO dumps VALUES ('quickstart', $json$
{
  "dataSources": [
    {
      "createdTimestampColumn": "created",
      "customOptions": {"configuration": "eyJuYW1lIjogImRyaXZlcl9zdGF0c19zb3VyY2UiLCAicXVlcnkiOiAiIiwgInRhYmxlIjogImRyaXZlcl9zdGF0cyJ9"},
      "dataSourceClassType": "feast.infra.offline_stores.contrib.postgres_offline_store.postgres_source.PostgreSQLSource",
      "description": "hourly driver stats",
      "meta": {"createdTimestamp": "2024-05-01T10:00:00.123456Z", "lastUpdatedTimestamp": "2024-05-01T10:00:00.123456Z"},
      "name": "driver_stats_source",
      "tags": {"team": "drivers"},
      "timestampField": "event_timestamp",
      "type": "CUSTOM_SOURCE"
    },
    {
      "batchSource": {
        "createdTimestampColumn": "created",
        "customOptions": {"configuration": "eyJuYW1lIjogImRyaXZlcl9zdGF0c19zb3VyY2UiLCAicXVlcnkiOiAiIiwgInRhYmxlIjogImRyaXZlcl9zdGF0cyJ9"},
        "dataSourceClassType": "feast.infra.offline_stores.contrib.postgres_offline_store.postgres_source.PostgreSQLSource",
        "name": "driver_stats_source",
        "timestampField": "event_timestamp",
        "type": "CUSTOM_SOURCE"
      },
      "createdTimestampColumn": "created",
      "meta": {"createdTimestamp": "2024-05-01T10:00:00Z", "lastUpdatedTimestamp": "2024-05-01T10:00:00Z"},
      "name": "driver_stats_push_source",
      "timestampField": "event_timestamp",
      "type": "PUSH_SOURCE"
    },
    {
      "batchSource": {"name": "customer_source", "timestampField": "ts", "type": "BATCH_FILE",
                      "fileOptions": {"uri": "data/customer_stats.parquet"}, "dataSourceClassType": "feast.infra.offline_stores.file_source.FileSource",
                      "fieldMapping": {"cust_id": "customer_id"}},
      "name": "customer_push",
      "type": "PUSH_SOURCE"
    },
    {
      "customOptions": {"configuration": "eyJuYW1lIjogImdsb2JhbF9zb3VyY2UiLCAicXVlcnkiOiAiU0VMRUNUICogRlJPTSBnbG9iYWxfc3RhdHNfcmF3IiwgInRhYmxlIjogIiJ9"},
      "dataSourceClassType": "feast.infra.offline_stores.contrib.postgres_offline_store.postgres_source.PostgreSQLSource",
      "name": "global_source",
      "timestampField": "event_timestamp",
      "type": "CUSTOM_SOURCE"
    }
  ],
  "entities": [
    {"meta": {"createdTimestamp": "2024-05-01T10:00:00Z"}, "spec": {"joinKey": "__dummy_id", "name": "__dummy"}},
    {"spec": {"joinKey": "customer_id", "name": "customer", "description": "a rider"}},
    {"meta": {"createdTimestamp": "2024-05-01T10:00:00Z", "lastUpdatedTimestamp": "2024-05-01T10:00:00Z"},
     "spec": {"description": "driver id", "joinKey": "driver_id", "name": "driver", "owner": "ml@example.com",
              "tags": {"pii": "false"}, "valueType": "INT64"}}
  ],
  "featureServices": [
    {"meta": {"createdTimestamp": "2024-05-01T10:00:00Z"},
     "spec": {"description": "model v1", "features": [
        {"featureColumns": [{"name": "conv_rate", "valueType": "FLOAT"}, {"name": "acc_rate", "valueType": "FLOAT"},
                            {"name": "avg_daily_trips", "valueType": "INT64"}],
         "featureViewName": "driver_hourly_stats", "timestampField": "created", "createdTimestampColumn": "created",
         "batchSource": {"name": "driver_stats_source", "type": "CUSTOM_SOURCE"}},
        {"featureColumns": [{"name": "current_balance", "valueType": "DOUBLE"}], "featureViewName": "customer_profile"}],
      "name": "driver_activity_v1", "tags": {"stage": "prod"}}},
    {"spec": {"features": [
        {"featureColumns": [{"name": "acc_rate", "valueType": "FLOAT"}, {"name": "conv_rate", "valueType": "FLOAT"}],
         "featureViewName": "driver_hourly_stats_fresh"}],
      "name": "driver_activity_v2"}}
  ],
  "featureViews": [
    {"meta": {"createdTimestamp": "2024-05-01T10:00:00Z", "lastUpdatedTimestamp": "2024-05-01T10:00:00Z",
              "materializationIntervals": [{"endTime": "2024-05-02T00:00:00Z", "startTime": "2024-05-01T00:00:00Z"}]},
     "spec": {
       "batchSource": {"name": "customer_source", "timestampField": "ts", "type": "BATCH_FILE",
                       "fileOptions": {"uri": "data/customer_stats.parquet"}, "fieldMapping": {"cust_id": "customer_id"}},
       "entities": ["customer"],
       "entityColumns": [{"name": "customer_id", "valueType": "STRING"}],
       "features": [{"name": "current_balance", "valueType": "DOUBLE", "description": "in dollars"},
                    {"name": "lifetime_trip_count", "valueType": "INT64", "tags": {"unit": "trips"}},
                    {"name": "recent_ratings", "valueType": "DOUBLE_LIST"}],
       "name": "customer_profile", "online": true, "ttl": "172800.500s", "version": "latest"}},
    {"spec": {
       "batchSource": {"createdTimestampColumn": "created", "name": "driver_stats_source", "timestampField": "event_timestamp",
                       "customOptions": {"configuration": "eyJuYW1lIjogImRyaXZlcl9zdGF0c19zb3VyY2UiLCAicXVlcnkiOiAiIiwgInRhYmxlIjogImRyaXZlcl9zdGF0cyJ9"},
                       "dataSourceClassType": "feast.infra.offline_stores.contrib.postgres_offline_store.postgres_source.PostgreSQLSource",
                       "type": "CUSTOM_SOURCE"},
       "description": "hourly stats", "entities": ["driver"],
       "entityColumns": [{"name": "driver_id", "valueType": "INT64"}],
       "features": [{"name": "conv_rate", "valueType": "FLOAT"}, {"name": "acc_rate", "valueType": "FLOAT"},
                    {"name": "avg_daily_trips", "valueType": "INT64"}],
       "name": "driver_hourly_stats", "online": true, "tags": {"team": "drivers"}, "ttl": "86400s"}},
    {"spec": {
       "batchSource": {"name": "driver_stats_source", "type": "CUSTOM_SOURCE"},
       "entities": ["driver"],
       "features": [{"name": "conv_rate", "valueType": "FLOAT"}, {"name": "acc_rate", "valueType": "FLOAT"}],
       "name": "driver_hourly_stats_fresh", "online": true,
       "streamSource": {"name": "driver_stats_push_source", "type": "PUSH_SOURCE"}, "ttl": "0s"}},
    {"spec": {
       "batchSource": {"name": "global_source", "type": "CUSTOM_SOURCE"},
       "entities": ["__dummy"],
       "features": [{"name": "total_trips", "valueType": "INT64"}],
       "name": "global_stats", "ttl": "3600s"}}
  ],
  "project": "driver_ranking"
}
$json$);

-- what a dump cannot be without a relation_map: a file source and a query source, in one error
SELECT feast_import_registry(dump) FROM dumps WHERE name = 'quickstart';

-- a dry run: the plan, and nothing written
SELECT r.* FROM dumps, ri_summary(feast_import_registry(dump, '{"customer_source": "customer_stats", "global_source": "global_stats_raw"}',
                                                          dry_run => true)) r
 WHERE dumps.name = 'quickstart';
SELECT (SELECT count(*) FROM feast.entities) AS entities, (SELECT count(*) FROM feast.data_sources) AS sources,
       (SELECT count(*) FROM feast.feature_views) AS views, (SELECT count(*) FROM feast.feature_services) AS services,
       (SELECT count(*) FROM pg_class WHERE relnamespace = 'feast_online'::regnamespace) AS online_tables;

-- the import: one feast_apply; Feast-only settings named in a NOTICE
SELECT r.* FROM dumps, ri_summary(feast_import_registry(dump, '{"customer_source": "customer_stats", "global_source": "global_stats_raw"}')) r
 WHERE dumps.name = 'quickstart';
SELECT name, join_key, value_type, description, tags FROM feast.entities ORDER BY name;
SELECT name, kind, relation, timestamp_field, created_timestamp_column, field_mapping, batch_source, description, tags
  FROM feast.data_sources ORDER BY name;
SELECT name, entities, source, ttl, online, online_table, description, tags FROM feast.feature_views ORDER BY name;
SELECT feature_view, name, dtype, position, description, tags FROM feast.features ORDER BY feature_view, position;
SELECT name, features, description, tags FROM feast.feature_services ORDER BY name;

-- the same dump again: every object unchanged
SELECT r.status, count(*) FROM dumps, ri_summary(feast_import_registry(dump, '{"customer_source": "customer_stats", "global_source": "global_stats_raw"}')) r
 WHERE dumps.name = 'quickstart' GROUP BY 1;

-- the imported store works: push through the imported push source, read through the service
SELECT feast_push('driver_stats_push_source', '{"driver_id": [1001], "event_timestamp": ["2024-05-01T10:00:00Z"],
                                                "conv_rate": [0.5], "acc_rate": [0.9]}');
SELECT feast_get_online_features(feature_service => 'driver_activity_v2', entity_rows => '{"driver_id": [1001]}') -> 'results' -> 1;

-- export: the same format; timestamps made fixed for this output
SET client_min_messages = warning;
SELECT feast_materialize('2024-05-01 00:00+00', '2024-05-02 00:00+00', '{driver_hourly_stats}');
RESET client_min_messages;
UPDATE feast.entities SET created_at = '2024-05-01 10:00:00+00', updated_at = '2024-05-01 10:00:00.25+00';
UPDATE feast.data_sources SET created_at = '2024-05-01 10:00:00+00', updated_at = '2024-05-01 10:00:00.123456+00';
UPDATE feast.feature_views SET created_at = '2024-05-01 10:00:00+00', updated_at = '2024-05-01 11:00:00+00';
UPDATE feast.feature_services SET created_at = '2024-05-01 10:00:00+00', updated_at = '2024-05-01 10:00:00+00';
SELECT jsonb_pretty(feast_export_registry());
-- the PostgreSQL source's options, decoded
SELECT convert_from(decode(feast_export_registry() #>> '{dataSources,3,customOptions,configuration}', 'base64'), 'UTF8');
-- one kind at a time, the same objects
SELECT bool_and(feast._export_objects(k) = feast_export_registry() -> f) AS same
  FROM (VALUES ('entity', 'entities'), ('data_source', 'dataSources'), ('feature_view', 'featureViews'),
               ('feature_service', 'featureServices')) AS x(k, f);
SELECT feast._export_objects('saved_dataset');

-- import of an export: every object unchanged
SELECT r.status, count(*) FROM ri_summary(feast_import_registry(feast_export_registry())) r GROUP BY 1;

-- what cfeast applies with its own functions comes back unchanged too: an online-only push
-- source, a ttl in months, a service naming a whole view's features one by one, one mixing
-- views, one naming a view and one of its features, an offline view
SELECT feast_apply_push_source('events_push', NULL, description => 'online only');
SELECT feast_apply_feature_view('events', '{driver}', '[{"name": "clicks", "dtype": "int64", "description": "per hour"},
                                                         {"name": "labels", "dtype": "array(string)"},
                                                         {"name": "payload", "dtype": "json"},
                                                         {"name": "seen_at", "dtype": "unix_timestamp"},
                                                         {"name": "raw", "dtype": "bytes"},
                                                         {"name": "ok", "dtype": "bool"}]',
                                'events_push', ttl => '1 mon 2 days 00:00:01.5') IS NOT NULL AS online;
SELECT feast_apply_feature_service('one_by_one', '{driver_hourly_stats:conv_rate,driver_hourly_stats:acc_rate,driver_hourly_stats:avg_daily_trips}');
SELECT feast_apply_feature_service('mixed', '{driver_hourly_stats:conv_rate,customer_profile:current_balance,driver_hourly_stats:acc_rate,events}',
                                   tags => '{"owner": "ml"}');
SELECT feast_apply_feature_service('whole_and_one', '{events,events:clicks}');
SELECT jsonb_path_query_first(feast_export_registry(), '$.featureViews[*] ? (@.spec.name == "events").spec.ttl') AS events_ttl,
       jsonb_path_query_array(feast_export_registry(), '$.featureServices[*].spec.features[*].featureViewName') AS projections;
SELECT r.status, count(*) FROM ri_summary(feast_import_registry(feast_export_registry())) r GROUP BY 1;
SELECT name, features FROM feast.feature_services ORDER BY name;
-- a projection of every feature of a view in its order is the whole view, unless the service
-- named them one by one; in another order they are named one by one
SELECT feast_import_registry(jsonb_set(feast_export_registry(), '{featureServices}',
    jsonb_path_query_array(feast_export_registry(), '$.featureServices[*] ? (@.spec.name == "one_by_one")')
    || '[{"spec": {"name": "whole", "features": [{"featureViewName": "driver_hourly_stats_fresh",
          "featureColumns": [{"name": "conv_rate"}, {"name": "acc_rate"}]}]}},
         {"spec": {"name": "reordered", "features": [{"featureViewName": "driver_hourly_stats_fresh",
          "featureColumns": [{"name": "acc_rate"}, {"name": "conv_rate"}]}]}}]')) -> 'created';
SELECT name, features FROM feast.feature_services WHERE name IN ('whole', 'reordered', 'one_by_one') ORDER BY name;

-- tags are strings in Feast: other JSON values are exported as their text (so re-importing
-- them changes the object)
SELECT feast_apply_entity('driver', 'driver_id', 'int64', 'driver id', '{"pii": false, "tier": 2}');
SELECT jsonb_path_query_first(feast._export_objects('entity'), '$[*] ? (@.spec.name == "driver").spec.tags') AS tags;
SELECT r.* FROM ri_summary(feast_import_registry(feast_export_registry())) r WHERE r.status <> 'unchanged';
SELECT tags FROM feast.entities WHERE name = 'driver';
SELECT feast_apply_entity('driver', 'driver_id', 'int64', 'driver id', '{"pii": "false"}');

-- everything cfeast cannot take, named in one error before anything is written
INSERT INTO dumps VALUES ('unsupported', $json$
{
  "dataSources": [
    {"name": "clicks_kafka", "type": "STREAM_KAFKA", "kafkaOptions": {"topic": "clicks"}, "timestampField": "ts"},
    {"name": "request_input", "type": "REQUEST_SOURCE", "requestDataOptions": {"schema": [{"name": "val", "valueType": "INT64"}]}},
    {"name": "bq_source", "type": "BATCH_BIGQUERY", "bigqueryOptions": {"table": "p.d.t"}, "timestampField": "ts"},
    {"name": "Odd-Source", "type": "CUSTOM_SOURCE", "timestampField": "ts",
     "dataSourceClassType": "feast.infra.offline_stores.contrib.postgres_offline_store.postgres_source.PostgreSQLSource",
     "customOptions": {"configuration": "eyJuYW1lIjogImRyaXZlcl9zdGF0c19zb3VyY2UiLCAicXVlcnkiOiAiIiwgInRhYmxlIjogImRyaXZlcl9zdGF0cyJ9"}},
    {"name": "spark_source", "type": "CUSTOM_SOURCE", "dataSourceClassType": "feast.infra.offline_stores.contrib.spark_offline_store.spark_source.SparkSource"}
  ],
  "entities": [
    {"spec": {"name": "event_time", "joinKey": "event_time", "valueType": "UNIX_TIMESTAMP"}},
    {"spec": {"name": "Driver", "joinKey": "driver_id", "valueType": "INT64"}},
    {"spec": {"name": "merchant", "joinKey": "merchant_id"}},
    {"spec": {"name": "rider", "joinKey": "rider_id", "valueType": "STRING"}},
    {"spec": {"name": "rider", "joinKey": "rider_id", "valueType": "STRING"}}
  ],
  "featureViews": [
    {"spec": {"name": "typed", "entities": ["rider"], "batchSource": {"name": "bq_source", "type": "BATCH_BIGQUERY"},
              "features": [{"name": "prefs", "valueType": "MAP"}, {"name": "id", "valueType": "UUID"},
                           {"name": "embedding", "valueType": "FLOAT_LIST", "vectorIndex": true},
                           {"name": "Score", "valueType": "DOUBLE"}, {"name": "ok", "valueType": "DOUBLE"}]}},
    {"spec": {"name": "transformed", "entities": ["rider"], "batchSource": {"name": "bq_source", "type": "BATCH_BIGQUERY"},
              "features": [{"name": "x", "valueType": "DOUBLE"}], "featureTransformation": {"userDefinedFunction": {"name": "f"}}}},
    {"spec": {"name": "sourceless", "entities": ["rider"], "features": [{"name": "x", "valueType": "DOUBLE"}]}},
    {"spec": {"name": "switched_off", "entities": ["rider"], "disabled": true,
              "batchSource": {"name": "bq_source", "type": "BATCH_BIGQUERY"}, "features": [{"name": "x", "valueType": "DOUBLE"}]}}
  ],
  "featureServices": [
    {"spec": {"name": "with_odfv", "features": [{"featureViewName": "conv_plus", "featureColumns": [{"name": "y", "valueType": "DOUBLE"}]}]}},
    {"spec": {"name": "versioned", "features": [{"featureViewName": "typed", "versionTag": 2, "featureColumns": [{"name": "ok", "valueType": "DOUBLE"}]}]}}
  ],
  "onDemandFeatureViews": [{"spec": {"name": "conv_plus", "features": [{"name": "y", "valueType": "DOUBLE"}]}}],
  "streamFeatureViews": [{"spec": {"name": "clicks_agg", "entities": ["rider"]}}],
  "savedDatasets": [{"spec": {"name": "training_2024"}}],
  "permissions": [{"spec": {"name": "readers"}}],
  "validationReferences": [{"name": "ref1", "datasetName": "training_2024"}],
  "project": "everything"
}
$json$);
SELECT feast_import_registry(dump, dry_run => true) FROM dumps WHERE name = 'unsupported';
SELECT feast_import_registry(dump) FROM dumps WHERE name = 'unsupported';
-- the entity "merchant" got no type, but a view's entity columns give it one
CREATE TABLE merchant_stats (merchant_id integer, event_timestamp timestamptz, sales double precision);
SELECT r.* FROM ri_summary(feast_import_registry('{"entities": [{"spec": {"name": "merchant", "joinKey": "merchant_id"}}],
  "featureViews": [{"spec": {"name": "merchant_stats", "entities": ["merchant"],
                             "entityColumns": [{"name": "merchant_id", "valueType": "INT32"}],
                             "batchSource": {"name": "merchant_source", "type": "BATCH_FILE", "timestampField": "event_timestamp"},
                             "features": [{"name": "sales", "valueType": "DOUBLE"}], "ttl": "0s"}}]}',
  '{"merchant_source": "merchant_stats"}', dry_run => true)) r;
SELECT count(*) AS entities FROM feast.entities;

-- relation_map
SELECT feast_import_registry('{}', '{"nowhere": "driver_stats"}');
SELECT feast_import_registry((SELECT dump FROM dumps WHERE name = 'quickstart'), '{"driver_stats_push_source": "driver_stats"}');
SELECT feast_import_registry('{}', '["driver_stats"]');
SELECT feast_import_registry('{}', '{"a": 1}');
-- every relation that does not resolve, in one error
SELECT feast_import_registry((SELECT dump FROM dumps WHERE name = 'quickstart'),
                             '{"customer_source": "no_such_table", "global_source": "public.\"Odd Table\""}');
SELECT feast_import_registry((SELECT dump FROM dumps WHERE name = 'quickstart'),
                             '{"customer_source": "otherdb.public.customer_stats", "global_source": "a b"}');
-- a relation in another schema with an odd name, by relation_map (quoted) or by search_path
CREATE SCHEMA ri_other;
CREATE TABLE ri_other."Odd Table" (cust_id text, ts timestamptz, current_balance double precision,
                                   lifetime_trip_count bigint, recent_ratings double precision[]);
SELECT r.* FROM ri_summary(feast_import_registry((SELECT dump FROM dumps WHERE name = 'quickstart'),
                           '{"customer_source": "ri_other.\"Odd Table\"", "global_source": "global_stats_raw"}')) r
 WHERE r.status <> 'unchanged';
SELECT relation FROM feast.data_sources WHERE name = 'customer_source';
SELECT convert_from(decode(feast._export_data_source('customer_source') #>> '{customOptions,configuration}', 'base64'), 'UTF8');
SET search_path = ri_other, public;
SELECT r.* FROM ri_summary(feast_import_registry((SELECT dump FROM dumps WHERE name = 'quickstart'),
                           '{"customer_source": "\"Odd Table\"", "global_source": "global_stats_raw"}', dry_run => true)) r
 WHERE r.status <> 'unchanged';
RESET search_path;

-- malformed dumps: 22023, naming what is wrong
SELECT feast_import_registry('[]');
SELECT feast_import_registry('{"featureview": []}');
SELECT feast_import_registry('{"entities": {}}');
SELECT feast_import_registry('{"entities": [{"name": "driver"}]}');
SELECT feast_import_registry('{"dataSources": [{"type": "PUSH_SOURCE"}]}');
SELECT feast_import_registry('{"featureViews": [{"spec": {"name": "v", "entities": [], "ttl": "1d",
                               "batchSource": {"name": "driver_stats_source"}, "features": [{"name": "conv_rate", "valueType": "FLOAT"}]}}]}');
SELECT feast_import_registry('{"dataSources": [{"name": "s", "type": "CUSTOM_SOURCE", "timestampField": "t",
  "dataSourceClassType": "feast.infra.offline_stores.contrib.postgres_offline_store.postgres_source.PostgreSQLSource",
  "customOptions": {"configuration": "not base64!"}}]}');
SELECT feast_import_registry('{"featureServices": [{"spec": {"name": "s", "features": [{"featureColumns": []}]}}]}');
SELECT feast_import_registry('{"featureViews": [{"spec": {"name": "v", "entities": "driver", "ttl": "0s",
                               "batchSource": {"name": "driver_stats_source"}, "features": [{"name": "conv_rate", "valueType": "FLOAT"}]}}]}');
SELECT feast_import_registry('{"featureServices": [{"spec": {"name": "s", "features": [{"featureViewName": "events", "featureColumns": {}}]}}]}');
-- cfeast's own checks still apply, through feast_apply: an unknown entity
SELECT feast_import_registry('{"featureViews": [{"spec": {"name": "v", "entities": ["nobody"], "ttl": "0s",
                               "batchSource": {"name": "driver_stats_source"}, "features": [{"name": "conv_rate", "valueType": "FLOAT"}]}}]}');
-- Feast's metadata keys are accepted and not recorded; an empty dump applies nothing
SELECT feast_import_registry('{"project": "p", "projectMetadata": [{"project": "p", "projectUuid": "u"}], "infra": [],
                               "registrySchemaVersion": "1", "versionId": "x", "lastUpdated": "2024-05-01T00:00:00Z"}');

-- feature services that rename (Feast's with_name and with_join_key_map) become projections:
-- an alias reads a view through other entity columns
CREATE TABLE location_stats (location_id bigint, event_timestamp timestamptz, temperature integer, humidity real);
SELECT r.* FROM ri_summary(feast_import_registry($json$
{
  "dataSources": [{"customOptions": {"configuration": "eyJuYW1lIjogImxvY2F0aW9uX3NvdXJjZSIsICJxdWVyeSI6ICIiLCAidGFibGUiOiAibG9jYXRpb25fc3RhdHMifQ=="},
                   "dataSourceClassType": "feast.infra.offline_stores.contrib.postgres_offline_store.postgres_source.PostgreSQLSource",
                   "name": "location_source", "timestampField": "event_timestamp", "type": "CUSTOM_SOURCE"}],
  "entities": [{"spec": {"joinKey": "location_id", "name": "location", "valueType": "INT64"}}],
  "featureServices": [
    {"spec": {"features": [
       {"featureColumns": [{"name": "temperature", "valueType": "INT32"}], "featureViewName": "location_stats",
        "featureViewNameAlias": "origin", "joinKeyMap": {"location_id": "origin_id"}},
       {"featureColumns": [{"name": "temperature", "valueType": "INT32"}, {"name": "humidity", "valueType": "FLOAT"}],
        "featureViewName": "location_stats", "featureViewNameAlias": "destination", "joinKeyMap": {"location_id": "destination_id"}}],
      "name": "trip"}},
    {"spec": {"features": [
       {"featureColumns": [{"name": "humidity", "valueType": "FLOAT"}], "featureViewName": "location_stats",
        "joinKeyMap": {"location_id": "here_id"}}],
      "name": "here"}}],
  "featureViews": [{"spec": {"batchSource": {"name": "location_source", "type": "CUSTOM_SOURCE"},
                             "entities": ["location"],
                             "features": [{"name": "temperature", "valueType": "INT32"}, {"name": "humidity", "valueType": "FLOAT"}],
                             "name": "location_stats", "online": true, "ttl": "0s"}}]
}
$json$)) r;
SELECT name, features, projections FROM feast.feature_services WHERE name IN ('trip', 'here') ORDER BY name;
SELECT feast_write_online('location_stats', '{"location_id": [1, 2], "temperature": [20, 30], "humidity": [0.5, 0.25],
                                              "event_timestamp": ["2024-05-01T10:00:00Z", "2024-05-01T10:00:00Z"]}');
SELECT feast_get_online_features(feature_service => 'trip', entity_rows => '{"origin_id": [1], "destination_id": [2]}',
                                 full_feature_names => true) -> 'metadata';
SELECT jsonb_path_query(feast_get_online_features(feature_service => 'trip', entity_rows => '{"origin_id": [1], "destination_id": [2]}',
                                                   full_feature_names => true), '$.results[*].values');
SELECT jsonb_pretty(jsonb_path_query_array(feast_export_registry(), '$.featureServices[*] ? (@.spec.name == "trip" || @.spec.name == "here").spec.features'));
SELECT r.status, count(*) FROM ri_summary(feast_import_registry(feast_export_registry())) r GROUP BY 1;

-- privileges: who may import is who may apply (checked first); export is for everyone
CREATE ROLE regress_ri_nobody;
CREATE ROLE regress_ri_applier;
SELECT count(*) > 0 AS granted FROM feast_grant('regress_ri_applier', 'apply', '*');
SET ROLE regress_ri_nobody;
SELECT feast_import_registry('{}');
SELECT feast_import_registry((SELECT dump FROM dumps WHERE name = 'quickstart'), dry_run => true);
SELECT jsonb_array_length(feast_export_registry() -> 'featureViews') AS views;
RESET ROLE;
-- the applier imports as itself: a source over a table it may not read is refused by the apply
SET ROLE regress_ri_applier;
SELECT feast_import_registry(dump, '{"customer_source": "customer_stats", "global_source": "global_stats_raw"}', dry_run => true)
  FROM dumps WHERE name = 'quickstart';
RESET ROLE;
GRANT SELECT ON driver_stats, customer_stats, global_stats_raw TO regress_ri_applier;
SET ROLE regress_ri_applier;
SELECT r.* FROM dumps, ri_summary(feast_import_registry(dump,
         '{"customer_source": "customer_stats", "global_source": "global_stats_raw"}', dry_run => true)) r
 WHERE dumps.name = 'quickstart' AND r.status <> 'unchanged';
RESET ROLE;

-- a dry run whose apply fails writes nothing and reports the apply's error
SELECT feast_import_registry('{"entities": [{"spec": {"name": "driver", "joinKey": "driver_key", "valueType": "INT64"}}]}',
                             dry_run => true);
SELECT join_key FROM feast.entities WHERE name = 'driver';

-- a hostile search_path: look-alike functions ahead of pg_catalog are never called; relations
-- still resolve as the caller's path says
CREATE SCHEMA ri_hostile;
CREATE FUNCTION ri_hostile.jsonb_typeof(jsonb) RETURNS text LANGUAGE sql AS $$ SELECT 'object' $$;
CREATE FUNCTION ri_hostile.format(text, text, text) RETURNS text LANGUAGE plpgsql AS $$ BEGIN RAISE 'hostile format'; END $$;
CREATE FUNCTION ri_hostile.to_regclass(text) RETURNS regclass LANGUAGE plpgsql AS $$ BEGIN RAISE 'hostile to_regclass'; END $$;
CREATE FUNCTION ri_hostile.jsonb_strip_nulls(jsonb) RETURNS jsonb LANGUAGE plpgsql AS $$ BEGIN RAISE 'hostile jsonb_strip_nulls'; END $$;
CREATE FUNCTION ri_hostile.encode(bytea, text) RETURNS text LANGUAGE plpgsql AS $$ BEGIN RAISE 'hostile encode'; END $$;
CREATE FUNCTION ri_hostile.current_database() RETURNS name LANGUAGE sql AS $$ SELECT 'hostile'::name $$;
CREATE TABLE ri_hostile.customer_stats (cust_id text, ts timestamptz, current_balance double precision,
                                        lifetime_trip_count bigint, recent_ratings double precision[]);
SET search_path = ri_hostile, pg_catalog, public;
SELECT r.* FROM dumps, ri_summary(feast_import_registry(dump,
         '{"customer_source": "customer_stats", "global_source": "global_stats_raw"}', dry_run => true)) r
 WHERE dumps.name = 'quickstart' AND r.status <> 'unchanged';
SELECT feast_export_registry() ->> 'project' AS project;
RESET search_path;

DROP OWNED BY regress_ri_applier, regress_ri_nobody;
DROP ROLE regress_ri_applier, regress_ri_nobody;
