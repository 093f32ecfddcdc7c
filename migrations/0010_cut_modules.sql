-- splitd schema, version 10: a split names the torch module of each cut layer.
--
-- Layers imported from ONNX (or exported by ops/export-torch) carry `module`, the dotted path of
-- the torch module they came from. A split keeps the module of each of its cut layers (in
-- `cut_layers` order, '' for a layer at the model's top level; NULL for splits stored before this
-- version), so plans and webhooks can say where to cut the torch model, not only the layer names.

ALTER TABLE splits ADD COLUMN cut_modules text[];

CREATE OR REPLACE VIEW split_plans AS
SELECT p.id, p.device_id, s.model_name, s.model_version, p.computed_at, p.algorithm, p.uplink_bps, p.downlink_bps,
       p.rtt_seconds, p.device_flops, p.server_flops, p.batch_size, s.device_layers, s.cut_layers,
       p.predicted_delay_seconds, p.transfer_bytes,
       jsonb_build_object('device_compute_seconds', p.device_compute_seconds, 'downlink_seconds', p.downlink_seconds,
                          'rtt_seconds', p.rtt_seconds, 'server_compute_seconds', p.server_compute_seconds,
                          'uplink_seconds', p.uplink_seconds) AS breakdown,
       p.solve_microseconds, p.superseded_at, p.reason, p.split_id,
       p.device_compute_seconds, p.server_compute_seconds, p.uplink_seconds, p.downlink_seconds,
       p.table_id, p.optimizer, p.memory_limit_bytes, p.device_memory_bytes, p.memory_bound,
       p.pushed, s.cut_modules
FROM plans p
JOIN splits s ON s.id = p.split_id;
