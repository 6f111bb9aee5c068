-- FK columns and dates. cpf, crm and cnpj need none: their UNIQUE constraints
-- already carry an index. pacientes_convenios(paciente_id) is the leading column
-- of its UNIQUE (paciente_id, convenio_id) index, so only convenio_id gets its own.
CREATE INDEX IF NOT EXISTS idx_pacientes_convenios_convenio ON pacientes_convenios (convenio_id);
CREATE INDEX IF NOT EXISTS idx_consultas_paciente ON consultas (paciente_id);
CREATE INDEX IF NOT EXISTS idx_consultas_medico ON consultas (medico_id);
CREATE INDEX IF NOT EXISTS idx_consultas_data ON consultas (data);
CREATE INDEX IF NOT EXISTS idx_exames_paciente ON exames (paciente_id);
CREATE INDEX IF NOT EXISTS idx_exames_data ON exames (data);
CREATE INDEX IF NOT EXISTS idx_internacoes_paciente ON internacoes (paciente_id);
CREATE INDEX IF NOT EXISTS idx_internacoes_datas ON internacoes (data_entrada, data_saida);
-- The exams still waiting for a result, for the dashboard's "pending exams": a partial
-- index holds only those rows, so counting them never reads the resulted ones. Added to
-- existing databases by running `init` again (IF NOT EXISTS).
CREATE INDEX IF NOT EXISTS idx_exames_pendentes ON exames (data) WHERE resultado IS NULL;
-- Likewise the stays not yet discharged, for the dashboard's occupancy.
CREATE INDEX IF NOT EXISTS idx_internacoes_abertas ON internacoes (data_entrada)
  WHERE data_saida IS NULL;
