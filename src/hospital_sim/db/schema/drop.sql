-- Removes everything init creates, children first.
DROP TABLE IF EXISTS internacoes, exames, consultas, pacientes_convenios,
    convenios, medicos, pacientes CASCADE;
DROP FUNCTION IF EXISTS hospital_sim_touch_updated_at();
