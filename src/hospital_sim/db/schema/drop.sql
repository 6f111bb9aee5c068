-- Removes everything init creates, children first, and what scenarios add
-- (fila_integracao: nightly-cleanup; relatorios_mensais: long-report; their extra columns
-- go with the hospital tables).
DROP TABLE IF EXISTS fila_integracao, relatorios_mensais, internacoes, exames, consultas, pacientes_convenios,
    convenios, medicos, pacientes CASCADE;
DROP FUNCTION IF EXISTS hospital_sim_touch_updated_at();
