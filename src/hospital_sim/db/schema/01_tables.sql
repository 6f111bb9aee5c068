-- The seven hospital tables. Names and types follow the original design.
CREATE TABLE IF NOT EXISTS pacientes (
    id            BIGSERIAL PRIMARY KEY,
    nome          VARCHAR(150) NOT NULL,
    nascimento    DATE NOT NULL,
    cpf           VARCHAR(20) NOT NULL UNIQUE,
    telefone      VARCHAR(20),
    endereco      VARCHAR(200),
    data_cadastro TIMESTAMP NOT NULL DEFAULT now(),
    created_at    TIMESTAMP NOT NULL DEFAULT now(),
    updated_at    TIMESTAMP NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS medicos (
    id            BIGSERIAL PRIMARY KEY,
    nome          VARCHAR(150) NOT NULL,
    crm           VARCHAR(20) NOT NULL UNIQUE,
    especialidade VARCHAR(80) NOT NULL,
    telefone      VARCHAR(20),
    created_at    TIMESTAMP NOT NULL DEFAULT now(),
    updated_at    TIMESTAMP NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS convenios (
    id            BIGSERIAL PRIMARY KEY,
    nome          VARCHAR(120) NOT NULL,
    cnpj          VARCHAR(25) NOT NULL UNIQUE,
    tipo          VARCHAR(40) NOT NULL,
    cobertura     VARCHAR(120),
    created_at    TIMESTAMP NOT NULL DEFAULT now(),
    updated_at    TIMESTAMP NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS pacientes_convenios (
    id              BIGSERIAL PRIMARY KEY,
    paciente_id     BIGINT NOT NULL REFERENCES pacientes(id) ON UPDATE CASCADE ON DELETE RESTRICT,
    convenio_id     BIGINT NOT NULL REFERENCES convenios(id) ON UPDATE CASCADE ON DELETE RESTRICT,
    numero_carteira VARCHAR(40),
    validade        DATE,
    created_at      TIMESTAMP NOT NULL DEFAULT now(),
    updated_at      TIMESTAMP NOT NULL DEFAULT now(),
    UNIQUE (paciente_id, convenio_id)
);

CREATE TABLE IF NOT EXISTS consultas (
    id          BIGSERIAL PRIMARY KEY,
    paciente_id BIGINT NOT NULL REFERENCES pacientes(id) ON UPDATE CASCADE ON DELETE RESTRICT,
    medico_id   BIGINT NOT NULL REFERENCES medicos(id) ON UPDATE CASCADE ON DELETE RESTRICT,
    data        TIMESTAMP NOT NULL,
    motivo      VARCHAR(200) NOT NULL,
    status      VARCHAR(20) NOT NULL
                CHECK (status IN ('agendada', 'realizada', 'cancelada', 'faltou')),
    created_at  TIMESTAMP NOT NULL DEFAULT now(),
    updated_at  TIMESTAMP NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS exames (
    id          BIGSERIAL PRIMARY KEY,
    paciente_id BIGINT NOT NULL REFERENCES pacientes(id) ON UPDATE CASCADE ON DELETE RESTRICT,
    tipo_exame  VARCHAR(100) NOT NULL,
    data        TIMESTAMP NOT NULL,
    resultado   VARCHAR(200),
    created_at  TIMESTAMP NOT NULL DEFAULT now(),
    updated_at  TIMESTAMP NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS internacoes (
    id           BIGSERIAL PRIMARY KEY,
    paciente_id  BIGINT NOT NULL REFERENCES pacientes(id) ON UPDATE CASCADE ON DELETE RESTRICT,
    data_entrada TIMESTAMP NOT NULL,
    data_saida   TIMESTAMP,
    motivo       VARCHAR(200) NOT NULL,
    quarto       VARCHAR(20),
    created_at   TIMESTAMP NOT NULL DEFAULT now(),
    updated_at   TIMESTAMP NOT NULL DEFAULT now(),
    CHECK (data_saida IS NULL OR data_saida >= data_entrada)
);
